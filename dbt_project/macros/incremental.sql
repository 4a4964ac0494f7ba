-- Helpers of the incremental models (docs/journeys.md "Incremental builds").

-- The start of this dbt invocation as a timestamp literal. A row whose content a build changed carries it in
-- `_changed_at`, so the models downstream pick "what changed in this build" with `_changed_at = build_started_at()`.
{% macro build_started_at() -%}
    cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S") }}' as timestamp)
{%- endmacro %}

-- The lineage columns of a staged row: where and when it was delivered, not what it says.
{% macro staging_lineage_columns() -%}
    {{ return(['_source_file', '_row_number', '_export_date', '_loaded_at']) }}
{%- endmacro %}

-- The raw rows a staging model reads: every row on a full build. On an incremental build, every row (old and new)
-- of the keys that received a delivery since the model's last build, so the deduplication of those keys (and the
-- version flags of their records) is recomputed from all their deliveries, exactly as a full build would. "Since"
-- is a delivery loaded after the newest one the table holds, or one in an export dated within var
-- incremental_lookback_days of its newest export date (so a run whose clock lags the previous one's still finds
-- its rows; re-staging them costs a comparison, not a change downstream: see stamp_changes).
{% macro staging_raw_rows(source_name, key_column) -%}
    {%- if is_incremental() %}
    {{- adapter.dispatch('staging_raw_rows_of_keys')(source_name, key_column) }}
    {%- else %}
    select * from {{ source('raw', source_name) }}
    {%- endif %}
{%- endmacro %}

{#- The keys (normalised) that received a delivery since the model's last build. #}
{% macro staging_changed_keys(source_name, key_column) -%}
    select {{ nullif_blank(key_column) }}
    from {{ source('raw', source_name) }}
    where _loaded_at > (select max(_loaded_at) from {{ previous_build() }})
        or _export_date > (
            select {{ dbt.dateadd('day', -1 * var('incremental_lookback_days'), 'max(_export_date)') }} from {{ previous_build() }}
        )
        or (select count(*) from {{ previous_build() }}) = 0
{%- endmacro %}

{% macro default__staging_raw_rows_of_keys(source_name, key_column) -%}
    select * from {{ source('raw', source_name) }}
    where {{ nullif_blank(key_column) }} in ({{ staging_changed_keys(source_name, key_column) }})
{%- endmacro %}

{#- DuckDB: the key normalised once per raw row, as a column, then compared. Written into the semi-join's
    condition, the normalisation ran several times per raw row. And the rows found pass a window partitioned by
    that column (`_barrier`): DuckDB pushes a filter below a window only when it is on the partition columns, so the
    staging model's own filters on its cleaned columns (the deduplication's "key is not null", an expression over
    the raw key) stay on the few rows found instead of being evaluated, as the cleaning expressions they are, on
    every raw row. (Partitioned, the window stays parallel when every row is found: an empty table's first rows.)
    Web events of 100k people, one night: 2.8-3.5 s before, 0.35-0.44 s with both (same rows). #}
{% macro duckdb__staging_raw_rows_of_keys(source_name, key_column) -%}
    select * exclude (_staging_key, _barrier) from (
        select *, count(*) over (partition by _staging_key) as _barrier from (
            select *, {{ nullif_blank(key_column) }} as _staging_key from {{ source('raw', source_name) }}
        ) as raw_rows
        where _staging_key in ({{ staging_changed_keys(source_name, key_column) }})
    ) as found_rows
{%- endmacro %}

-- `relation` (a CTE) with `_changed_at`: the build that last changed the row's content. On an incremental build a
-- row equal to the stored row of the same `keys` in every column but the `ignored` ones (by default the staging
-- lineage) keeps the stored `_changed_at`;
-- anything new or different gets this build's. Downstream models rework only `_changed_at = build_started_at()`.
-- (A column added to the model compares unequal once, so the first build after a schema change restamps all rows.)
{% macro stamp_changes(relation, keys, ignored=none) -%}
    {%- if is_incremental() -%}
    {{ return(adapter.dispatch('stamp_changes')(relation, keys, staging_lineage_columns() if ignored is none else ignored)) }}
    {%- else -%}
    select *, {{ build_started_at() }} as _changed_at from {{ relation }}
    {%- endif -%}
{%- endmacro %}

{#- DuckDB: compare whole rows (every column but lineage), whatever the model's columns are. -#}
{% macro duckdb__stamp_changes(relation, keys, ignored) -%}
    select
        changed.* exclude (_content),
        case
            {#- compared as text: a row of a table staged before a column was added has fewer fields (a struct of another
                size cannot be compared), and differs once #}
            when stored._content is null
                or cast(stored._content as varchar) is distinct from cast(changed._content as varchar) then {{ build_started_at() }}
            else stored._changed_at
        end as _changed_at
    from (
        select *, row(*columns(*{% if ignored %} exclude ({{ ignored | join(', ') }}){% endif %})) as _content from {{ relation }}
    ) as changed
    left join (
        select {{ keys | join(', ') }}, _changed_at,
            row(*columns(* exclude ({{ (ignored + ['_changed_at']) | join(', ') }}))) as _content
        from {{ previous_build() }} as stored_row
        {#- only the stored rows of the keys at hand: a night compares its few rows, not the whole table #}
        where exists (
            select 1 from {{ relation }} as candidate
            where {% for key in keys %}candidate.{{ key }} = stored_row.{{ key }}{% if not loop.last %} and {% endif %}{% endfor %}
        )
    ) as stored
        on {% for key in keys %}stored.{{ key }} = changed.{{ key }}{% if not loop.last %} and {% endif %}{% endfor %}
{%- endmacro %}

{#- Other engines: compare the stored table's columns one by one. -#}
{% macro default__stamp_changes(relation, keys, ignored) -%}
    {%- set ignored = ignored + ['_changed_at'] -%}
    {%- set compared = [] -%}
    {%- for column in adapter.get_columns_in_relation(previous_build()) -%}
        {%- if column.name not in ignored and column.name not in keys -%}{%- do compared.append(column.name) -%}{%- endif -%}
    {%- endfor %}
    select
        changed.*,
        case
            when stored.{{ keys[0] }} is null
            {%- for column in compared %}
                or changed.{{ column }} is distinct from stored.{{ column }}
            {%- endfor %}
                then {{ build_started_at() }}
            else stored._changed_at
        end as _changed_at
    from {{ relation }} as changed
    left join {{ previous_build() }} as stored
        on {% for key in keys %}stored.{{ key }} = changed.{{ key }}{% if not loop.last %} and {% endif %}{% endfor %}
{%- endmacro %}

-- The eight staged sources as (source name, staging model, record key column).
{% macro staged_sources() -%}
    {{ return([
        ('web_events', 'stg_web__events', 'event_id'), ('app_events', 'stg_app__events', 'event_id'),
        ('orders', 'stg_shop__orders', 'order_id'), ('pos_transactions', 'stg_pos__transactions', 'transaction_id'),
        ('email_events', 'stg_email__events', 'event_id'), ('crm_contacts', 'stg_crm__contacts', 'contact_id'),
        ('support_tickets', 'stg_support__tickets', 'ticket_id'), ('reviews', 'stg_reviews__reviews', 'review_id'),
    ]) }}
{%- endmacro %}

-- True when `column` holds a customer this build rewrites (int_identity__dirty_customers): the per-customer models
-- delete those customers' rows before the build (pre-hook) and read only their inputs.
{% macro is_dirty_customer(column='customer_id') -%}
    {{ column }} in (select customer_id from {{ ref('int_identity__dirty_customers') }})
{%- endmacro %}

-- True when `alias` (a row with source_name and record_id) is a record int_identity__changed_records lists.
{% macro is_changed_record(alias, source_column='source_name', record_column='record_id') -%}
    exists (
        select 1 from {{ ref('int_identity__changed_records') }} as changed_record
        where changed_record.source_name = {{ alias }}.{{ source_column }}
            and changed_record.record_id = {{ alias }}.{{ record_column }}
    )
{%- endmacro %}

-- True when this build rebuilds the incremental models from scratch (whatever a previous build left): dbt's
-- --full-refresh (an erasure, a re-key, `journey run --full-refresh`) or var journey_incremental off, on either engine
-- (the identity graph's models are incremental on Spark too). A first build is the other case: a model knows it by
-- previous_state being none.
{% macro rebuilds_everything() -%}
    {{ return(flags.FULL_REFRESH or not var('journey_incremental')) }}
{%- endmacro %}

-- The previous build's table of a model of this schema, read before this build rewrites it (none on a first build).
-- Only for a model that must know what a later model held (ref would make a cycle); it must run before that model.
-- On Spark a build writes a new generation beside the published one: the previous build's table is the published
-- generation's (previous_generation; none on a first run, and after an erasure, whose previous schemas hold only the
-- customer-id map and the merge log).
{% macro previous_state(model_name) -%}
    {%- if not execute -%}{{ return(none) }}{%- endif -%}
    {{ return(adapter.dispatch('previous_state')(model_name)) }}
{%- endmacro %}

{% macro default__previous_state(model_name) -%}
    {{ return(adapter.get_relation(database=this.database, schema=this.schema, identifier=model_name)) }}
{%- endmacro %}

{% macro spark__previous_state(model_name) -%}
    {{ return(previous_generation(api.Relation.create(database=this.database, schema=this.schema,
                                                      identifier=model_name))) }}
{%- endmacro %}

-- The incremental journey models' rebuild scope (docs/journeys.md "Incremental builds"): a row of `alias` is rebuilt
-- when its visitor is in int_journeys__rebuild_scope and the row's `time_column` is at or after the visitor's
-- rebuild_from (every row of the visitor when rebuild_from is null), less `minutes_before` (a session that ended
-- less than a timeout before rebuild_from may grow); `also`: SQL of rows of such a visitor rebuilt whatever their
-- time (a non-converting path). This is the pre_hook that deletes those rows of the model's table (write the call
-- inside the hook's string, so it renders with it); a model's select joins int_journeys__rebuild_scope (one row per
-- visitor) as `rebuild_scope` with the condition rebuild_scope_reaches. Both are joins on purpose: DuckDB runs an
-- EXISTS whose condition also compares the row's time by first finding the distinct (visitor, time) pairs of the
-- whole table, 3 to 10 times slower at 500k people (docs/benchmarks.md, ninth round).
{% macro delete_rebuild_scope(alias, time_column, minutes_before=0, also=none) -%}
    {{ return(adapter.dispatch('delete_rebuild_scope')(alias, time_column, minutes_before, also)) }}
{%- endmacro %}

{% macro default__delete_rebuild_scope(alias, time_column, minutes_before, also) -%}
    delete from {{ this }} as {{ alias }}
    using {{ ref('int_journeys__rebuild_scope') }} as rebuild_scope
    where rebuild_scope.visitor_key = {{ alias }}.visitor_key
        and {{ rebuild_scope_reaches(alias ~ '.' ~ time_column, minutes_before, also) }}
{%- endmacro %}

{#- Spark: the same rows as a scope of the previous generation's (delete_stored_rows), which has no `delete ... using`. #}
{% macro spark__delete_rebuild_scope(alias, time_column, minutes_before, also) -%}
    {%- set predicate -%}
    exists (
        select 1 from {{ ref('int_journeys__rebuild_scope') }} as rebuild_scope
        where rebuild_scope.visitor_key = {{ alias }}.visitor_key
            and {{ rebuild_scope_reaches(alias ~ '.' ~ time_column, minutes_before, also) }}
    )
    {%- endset %}
    {{ return(delete_stored_rows(alias, predicate)) }}
{%- endmacro %}

-- The time condition of delete_rebuild_scope, for a model that joins int_journeys__rebuild_scope (as `rebuild_scope`).
{% macro rebuild_scope_reaches(time_expression, minutes_before=0, also=none) -%}
    (
        rebuild_scope.rebuild_from is null
        {%- if also %}
        or {{ also }}
        {%- endif %}
        or {{ time_expression }} >= {% if minutes_before -%}
            {{ dbt.dateadd('minute', -1 * minutes_before, 'rebuild_scope.rebuild_from') }}
        {%- else -%}
            rebuild_scope.rebuild_from
        {%- endif %}
    )
{%- endmacro %}
