-- Every interaction from all eight sources on one timeline, one row per source record (one per order, one per
-- CRM contact). Stage, conversion flag, path flag and activity flag come from seed journey_stage_rules (a rule
-- for the touchpoint's source wins over a rule for any source; a channel with is_path_channel false in seed
-- journey_channel_rules is never a path touch); a purchase-stage touchpoint after the visitor's
-- first conversion is a repeat purchase and gets var journey_repeat_purchase_stage. Revenue is the order's
-- latest amount (zero for var journey_zero_revenue_order_statuses) or the till amount, in its own currency and,
-- through seed journey_currency_rates, in var journey_reporting_currency.
-- Incremental (docs/journeys.md "Incremental builds"): a run rewrites the touchpoints of the visitors of
-- int_journeys__rebuild_scope from their rebuild_from on; their earlier conversions (unchanged) come from the
-- table itself, so conversion numbers and repeat purchases continue where they were.
{{
    config(
        materialized=incremental_materialization(spark_incremental=true),
        unique_key='touchpoint_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        full_refresh=none if var('journey_incremental') else true,
        post_hook=after_commit("{{ record_keys_built(['touchpoint_id']) }}"),
    )
}}
-- depends_on: {{ ref('int_journeys__rebuild_scope') }}
with

all_touchpoints as (select * from {{ ref('int_journeys__touchpoints_sessionized') }}),
stage_rules as (select * from {{ ref('journey_stage_rules') }}),
currency_rates as (select * from {{ ref('journey_currency_rates') }}),

{% if is_incremental() %}

rebuild_scope as (select * from {{ ref('int_journeys__rebuild_scope') }}),

touchpoints as (
    select all_touchpoints.*
    from all_touchpoints
    inner join rebuild_scope on rebuild_scope.visitor_key = all_touchpoints.visitor_key
    where {{ rebuild_scope_reaches('all_touchpoints.occurred_at') }}
),

-- The visitor's conversions before the rebuilt part (kept as they were).
earlier_conversions as (
    select
        previous.visitor_key,
        count(*) as conversions_count,
        min(previous.occurred_at) as first_conversion_at
    from {{ previous_build() }} as previous
    inner join rebuild_scope on rebuild_scope.visitor_key = previous.visitor_key
    where previous.is_conversion and previous.occurred_at < rebuild_scope.rebuild_from
    group by previous.visitor_key
),

{% else %}

touchpoints as (select * from all_touchpoints),

earlier_conversions as (
    select
        cast(null as {{ dbt.type_string() }}) as visitor_key,
        cast(0 as {{ dbt.type_bigint() }}) as conversions_count,
        cast(null as {{ dbt.type_timestamp() }}) as first_conversion_at
    where 1 = 0
),

{% endif %}

rule_keys as (
    select distinct source_name, touchpoint_type from touchpoints
),

resolved_rules as (
    select
        rule_keys.source_name,
        rule_keys.touchpoint_type,
        stage_rules.journey_stage,
        stage_rules.is_conversion,
        stage_rules.is_path_touch,
        stage_rules.is_active,
        row_number() over (
            partition by rule_keys.source_name, rule_keys.touchpoint_type
            order by case when stage_rules.source_name is null then 1 else 0 end
        ) as rule_rank
    from rule_keys
    inner join stage_rules
        on stage_rules.touchpoint_type = rule_keys.touchpoint_type
        and (stage_rules.source_name is null or stage_rules.source_name = rule_keys.source_name)
),

staged as (
    select
        touchpoints.*,
        resolved_rules.journey_stage as rule_stage,
        coalesce(resolved_rules.is_conversion, false) as is_conversion,
        coalesce(resolved_rules.is_path_touch, false) and coalesce(touchpoints.is_path_channel, true) as is_path_touch,
        coalesce(resolved_rules.is_active, false) as is_active
    from touchpoints
    left join resolved_rules
        on resolved_rules.rule_rank = 1
        and resolved_rules.source_name = touchpoints.source_name
        and resolved_rules.touchpoint_type = touchpoints.touchpoint_type
),

numbered as (
    select
        staged.*,
        case
            when staged.is_conversion then coalesce(earlier_conversions.conversions_count, 0) + sum(
                case when staged.is_conversion then 1 else 0 end
            ) over (
                partition by staged.visitor_key order by staged.occurred_at, staged.touchpoint_id
                rows between unbounded preceding and current row
            )
        end as conversion_number,
        coalesce(
            earlier_conversions.first_conversion_at,
            min(case when staged.is_conversion then staged.occurred_at end) over (partition by staged.visitor_key)
        ) as first_conversion_at
    from staged
    left join earlier_conversions on earlier_conversions.visitor_key = staged.visitor_key
),

final as (
    select
        numbered.touchpoint_id,
        numbered.source_name,
        numbered.record_id,
        numbered.customer_id,
        numbered.visitor_key,
        numbered.occurred_at,
        numbered.touchpoint_type,
        numbered.channel,
        numbered.channel_group,
        case
            -- A repeat purchase: a conversion after the first, or a purchase event (web/app) more than a session
            -- timeout after the first conversion (within it, it is the same purchase as the order).
            when numbered.rule_stage = 'purchase' and (
                (numbered.is_conversion and numbered.conversion_number > 1)
                or (
                    not numbered.is_conversion
                    and {{ journey_seconds_between('numbered.first_conversion_at', 'numbered.occurred_at') }}
                        > {{ var('session_timeout_minutes') }} * 60
                )
            ) then '{{ var("journey_repeat_purchase_stage") }}'
            else numbered.rule_stage
        end as journey_stage,
        numbered.is_conversion,
        cast(numbered.conversion_number as integer) as conversion_number,
        numbered.is_path_touch,
        numbered.is_active,
        numbered.session_id,
        numbered.device,
        numbered.device_os,
        numbered.campaign,
        numbered.traffic_medium,
        numbered.traffic_source,
        numbered.referrer_domain,
        numbered.page,
        numbered.order_status,
        numbered.revenue_amount,
        numbered.currency,
        cast(round(numbered.revenue_amount * currency_rates.rate_to_reporting_currency, 2) as decimal(18, 2))
            as reporting_revenue_amount
    from numbered
    left join currency_rates on currency_rates.currency = numbered.currency
)

select * from final
