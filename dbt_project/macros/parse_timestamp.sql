-- An ISO-8601 text timestamp to a naive UTC timestamp. Text without an offset is read in `tz`.
-- Keep in step with rules/contract.py:timestamp_sql, which ingestion uses to quarantine rows.
{% macro parse_timestamp(column, tz='UTC') -%}
    {{ return(adapter.dispatch('parse_timestamp')(column, tz)) }}
{%- endmacro %}

{% macro default__parse_timestamp(column, tz) -%}
    case
        when regexp_matches(trim({{ column }}), '[0-9]:[0-9]{2}(\.[0-9]+)?\s*(Z|z|[+-][0-9]{2}(:?[0-9]{2})?)$')
            then try_cast(trim({{ column }}) as timestamptz) at time zone 'UTC'
        else timezone('UTC', timezone('{{ tz }}', try_cast(trim({{ column }}) as timestamp)))
    end
{%- endmacro %}

{#- Spark: a text with an offset casts to the instant, shown in the session time zone (UTC: profiles.yml);
    to_utc_timestamp reads an offset-less text in `tz`. With ANSI mode off (dbt-spark's setting) a text that is
    no timestamp casts to null. -#}
{% macro spark__parse_timestamp(column, tz) -%}
    case
        when (trim({{ column }}) rlike '{{ spark_regex("[0-9]:[0-9]{2}(\.[0-9]+)?\s*(Z|z|[+-][0-9]{2}(:?[0-9]{2})?)$") }}')
            then try_cast(trim({{ column }}) as timestamp)
        else to_utc_timestamp(try_cast(trim({{ column }}) as timestamp), '{{ tz }}')
    end
{%- endmacro %}
