-- An ISO-8601 text timestamp to a naive UTC timestamp. Text without an offset is read in `tz`.
-- Keep in step with rules/contract.py:timestamp_sql, which ingestion uses to quarantine rows.
{% macro parse_timestamp(column, tz='UTC') -%}
    case
        when regexp_matches(trim({{ column }}), '[0-9]:[0-9]{2}(\.[0-9]+)?\s*(Z|z|[+-][0-9]{2}(:?[0-9]{2})?)$')
            then try_cast(trim({{ column }}) as timestamptz) at time zone 'UTC'
        else timezone('UTC', timezone('{{ tz }}', try_cast(trim({{ column }}) as timestamp)))
    end
{%- endmacro %}
