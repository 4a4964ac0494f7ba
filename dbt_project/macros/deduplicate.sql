-- Delivery order, newest first: latest export date, then load time, then file path, then row in file (deterministic).
{% macro latest_delivery_first() -%}
    _export_date desc nulls last, _loaded_at desc nulls last, _source_file desc nulls last, _row_number desc nulls last
{%- endmacro %}

-- One row per `partition_by` (a list of columns): the latest delivered one; rows without a key (first column) are dropped.
-- Exact re-deliveries collapse to one row; a key re-sent with different content keeps the newest delivery.
{% macro dedupe_latest_delivery(relation, partition_by) -%}
    select *
    from (
        select
            *,
            row_number() over (
                partition by {{ partition_by | join(', ') }}
                order by {{ latest_delivery_first() }}
            ) as _delivery_rank
        from {{ relation }}
        where {{ partition_by[0] }} is not null
    ) as ranked
    where _delivery_rank = 1
{%- endmacro %}

-- True on the newest version of each `key` (highest `version_column`, ties broken by delivery order).
{% macro is_latest_version(key, version_column) -%}
    (row_number() over (
        partition by {{ key }}
        order by {{ version_column }} desc nulls last, {{ latest_delivery_first() }}
    ) = 1)
{%- endmacro %}
