-- Helpers of the journey models (models/*/journeys). DuckDB-only syntax lives here, behind adapter.dispatch.

-- An ordered list (array) of `expression` per group, ordered by `order_by`, of the rows where `where` holds.
{% macro journey_ordered_list(expression, order_by, where='true') -%}
    {{ return(adapter.dispatch('journey_ordered_list')(expression, order_by, where)) }}
{%- endmacro %}
{% macro default__journey_ordered_list(expression, order_by, where) -%}
    list({{ expression }} order by {{ order_by }}) filter (where {{ where }})
{%- endmacro %}
{% macro spark__journey_ordered_list(expression, order_by, where) -%}
    transform(
        array_sort(collect_list(case when {{ where }} then struct({{ order_by }} as k, {{ expression }} as v) end)),
        x -> x.v
    )
{%- endmacro %}

-- The median of `expression` in a group.
{% macro journey_median(expression) -%}
    {{ return(adapter.dispatch('journey_median')(expression)) }}
{%- endmacro %}
{% macro default__journey_median(expression) -%}
    percentile_cont(0.5) within group (order by {{ expression }})
{%- endmacro %}
{% macro spark__journey_median(expression) -%}
    percentile({{ expression }}, 0.5)
{%- endmacro %}

-- Keyword that makes a CTE evaluated once (the Markov matrix squaring refers to each step twice).
{% macro journey_materialized_cte() -%}
    {{ return(adapter.dispatch('journey_materialized_cte')()) }}
{%- endmacro %}
{% macro default__journey_materialized_cte() -%}{%- endmacro %}
{% macro duckdb__journey_materialized_cte() -%}materialized{%- endmacro %}

-- `name as {{ journey_inline_cte() }} (select * from {{ ref(...) }})`: a CTE that only names a stored table, read by
-- each of its readers with their own columns and filters. DuckDB materializes a CTE read more than once, and for a
-- plain table that means copying every column of every row before the readers filter them: fct_sessions' night at
-- 500k people selected in 1.6 s with fct_touchpoints materialized, 0.4 s without.
{% macro journey_inline_cte() -%}
    {{ return(adapter.dispatch('journey_inline_cte')()) }}
{%- endmacro %}
{% macro default__journey_inline_cte() -%}{%- endmacro %}
{% macro duckdb__journey_inline_cte() -%}not materialized{%- endmacro %}

-- Seconds from `start` to `end` (timestamps), as a double.
{% macro journey_seconds_between(start, end) -%}
    cast({{ dbt.datediff(start, end, 'second') }} as {{ journey_type_double() }})
{%- endmacro %}

-- Days from `start` to `end` (timestamps), fractional, as a double.
{% macro journey_days_between(start, end) -%}
    ({{ journey_seconds_between(start, end) }} / 86400.0)
{%- endmacro %}

-- Monday of the week of a timestamp, as a date.
{% macro journey_week(expression) -%}
    cast({{ dbt.date_trunc('week', expression) }} as date)
{%- endmacro %}

-- The position (1-based) of a journey stage in var journey_stage_order; null for a null or unknown stage.
{% macro journey_stage_order(stage) -%}
    case {{ stage }}
    {%- for name in var('journey_stage_order') %}
        when '{{ name }}' then {{ loop.index }}
    {%- endfor %}
    end
{%- endmacro %}

-- Matching rule of the mapping seeds: an empty pattern matches anything, '(none)' matches only an empty value,
-- anything else is a SQL LIKE pattern ('%' any text) on the lower-cased value.
{% macro journey_rule_matches(value, pattern) -%}
    (
        {{ pattern }} is null
        or ({{ pattern }} = '(none)' and coalesce({{ value }}, '') = '')
        or ({{ pattern }} <> '(none)' and lower({{ value }}) like lower({{ pattern }}))
    )
{%- endmacro %}

-- The time all "as of now" rules use: var journey_as_of when set, else the latest touchpoint in the warehouse,
-- so results are reproducible on historical data.
{% macro journey_as_of(touchpoints_relation) -%}
    {%- if var('journey_as_of') -%}
        cast('{{ var("journey_as_of") }}' as {{ dbt.type_timestamp() }})
    {%- else -%}
        (select max(occurred_at) from {{ touchpoints_relation }})
    {%- endif -%}
{%- endmacro %}

-- fct_customer_lifecycle_weeks' rows that an incremental build rewrites (`alias`): the customers of
-- int_journeys__rebuild_scope, and every week past the as-of week.
{% macro lifecycle_weeks_rebuilt(alias) -%}
    {{ alias }}.customer_id in (select visitor_key from {{ ref('int_journeys__rebuild_scope') }})
        or {{ alias }}.week_start > {{ journey_week(journey_as_of(ref('fct_touchpoints'))) }}
{%- endmacro %}

-- Generic test: the combination of `columns` is unique (dbt_utils is not installed).
{% test journey_unique_combination(model, columns) %}
    select {{ columns | join(', ') }}, count(*) as rows_count
    from {{ model }}
    group by {{ columns | join(', ') }}
    having count(*) > 1
{% endtest %}

-- A 64-bit float type (dbt.type_float() is a 32-bit REAL on DuckDB: too coarse for attribution credits).
{% macro journey_type_double() -%}
    {{ return(adapter.dispatch('journey_type_double')()) }}
{%- endmacro %}
{% macro default__journey_type_double() -%}double{%- endmacro %}
{% macro postgres__journey_type_double() -%}double precision{%- endmacro %}

-- A struct of named fields, `fields` a list of (name, expression): one value that orders field by field (min_by's
-- key, the survivor's columns).
{% macro journey_struct(fields) -%}
    {{ return(adapter.dispatch('journey_struct')(fields)) }}
{%- endmacro %}
{% macro default__journey_struct(fields) -%}
    named_struct({% for name, expression in fields %}'{{ name }}', {{ expression }}{{ ', ' if not loop.last }}{% endfor %})
{%- endmacro %}
{% macro duckdb__journey_struct(fields) -%}
    struct_pack({% for name, expression in fields %}{{ name }} := {{ expression }}{{ ', ' if not loop.last }}{% endfor %})
{%- endmacro %}

-- Microseconds since 1970-01-01 of a timestamp (a number, so that a descending order can be written as an ascending one).
{% macro journey_epoch_us(expression) -%}
    {{ return(adapter.dispatch('journey_epoch_us')(expression)) }}
{%- endmacro %}
{% macro default__journey_epoch_us(expression) -%}unix_micros({{ expression }}){%- endmacro %}
{% macro duckdb__journey_epoch_us(expression) -%}epoch_us({{ expression }}){%- endmacro %}

-- The columns of a touch's attribution credit that int_journeys__attribution_credits (five models, stored) and
-- int_journeys__markov_credits (markov, worked out when read) share: fct_attribution and fct_attribution_daily
-- read both as one relation.
{% macro attribution_credit_columns() -%}
    conversion_id, model, touch_id, touch_position, touches_count, touched_at, channel, channel_group, campaign,
    visitor_key, customer_id, conversion_source_name, conversion_at, conversion_value, credit, revenue_credit
{%- endmacro %}

-- The columns that describe the touch and its conversion, in the order both credit relations list them after
-- conversion_id and model (int_journeys__attribution_credits stores them, int_journeys__markov_credits reads them from
-- its linear rows): one list, so that a column added to the stored credits reaches the Markov credits too.
{% macro attribution_touch_columns() -%}
    touch_id, touch_kind, touch_position, touches_count, touched_at, channel, channel_group, campaign, visitor_key,
    customer_id, conversion_source_name, conversion_at, conversion_value, is_fallback_touch
{%- endmacro %}

-- fct_attribution's credits of a (conversion, model, channel), summed over its touches as exact decimals and rounded,
-- so that reruns and incremental builds are identical to the bit (a float sum depends on the order of its rows).
{% macro fct_attribution_credit_sums() -%}
    cast(round(sum(cast(credit as decimal(38, 18))), 12) as {{ journey_type_double() }}) as credit,
    cast(round(sum(cast(revenue_credit as decimal(38, 18))), 8) as {{ journey_type_double() }}) as revenue_credit
{%- endmacro %}

-- fct_attribution's post-hook on an incremental build: the Markov credits of the conversions the build did not roll
-- up again, set in place where the night's removal effects changed them. Only the two credit columns change: the
-- channels of such a conversion (its path) did not, or the build would have rolled it up again.
{% macro fct_attribution_update_markov_credits() -%}
    update {{ this }} as stored
    set credit = markov.credit, revenue_credit = markov.revenue_credit
    from (
        select conversion_id, model, channel, {{ fct_attribution_credit_sums() }}
        from {{ ref('int_journeys__markov_credits') }}
        group by conversion_id, model, channel
    ) as markov
    where stored.conversion_id = markov.conversion_id
        and stored.model = markov.model
        and stored.channel = markov.channel
        and (stored.credit is distinct from markov.credit or stored.revenue_credit is distinct from markov.revenue_credit)
{%- endmacro %}
