-- An ISO-8601 text timestamp to a naive UTC timestamp. Text without an offset is read in `tz`.
-- The same rule as rules/contract.py:timestamp_sql, which ingestion uses to quarantine rows: only a text of
-- timestamp_shape() (rules/contract.py TIMESTAMP_SHAPE), padded by ASCII whitespace or not, is read, so that both
-- engines read the same texts alike (tests/test_spark_raw_gates.py renders these macros and runs them on both).
{% macro parse_timestamp(column, tz='UTC') -%}
    {{ return(adapter.dispatch('parse_timestamp')(column, tz)) }}
{%- endmacro %}

{% macro timestamp_shape() -%}
    {{ return('[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])([T ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\\.[0-9]+)?)?(Z|[+-](0[0-9]|1[0-8])(:?[0-5][0-9])?)?)?') }}
{%- endmacro %}

{% macro timestamp_padding() -%}
    {{ return('[ \\t\\n\\x0B\\f\\r]') }}
{%- endmacro %}

{#- The text without the padding: DuckDB's trim(text, chars), Spark's btrim(text, chars). -#}
{% macro timestamp_trimmed(column) -%}
    {{ return(adapter.dispatch('timestamp_trimmed')(column)) }}
{%- endmacro %}

{% macro default__timestamp_trimmed(column) -%}
    trim({{ column }}, ' ' || chr(9) || chr(10) || chr(11) || chr(12) || chr(13))
{%- endmacro %}

{% macro spark__timestamp_trimmed(column) -%}
    btrim({{ column }}, ' ' || chr(9) || chr(10) || chr(11) || chr(12) || chr(13))
{%- endmacro %}

{#- An offset starts after the minutes (character 17) of a text of timestamp_shape(). -#}
{% macro timestamp_has_offset(text) -%}
    (right({{ text }}, 1) = 'Z' or contains(substr({{ text }}, 17), '+') or contains(substr({{ text }}, 17), '-'))
{%- endmacro %}

{% macro default__parse_timestamp(column, tz) -%}
    case
        when regexp_matches({{ column }}, '^{{ timestamp_shape() }}$')
            then {{ default__shaped_timestamp(column, tz) }}
        when regexp_matches({{ column }}, '^{{ timestamp_padding() }}*{{ timestamp_shape() }}{{ timestamp_padding() }}*$')
            then {{ default__shaped_timestamp(timestamp_trimmed(column), tz) }}
    end
{%- endmacro %}

{% macro default__shaped_timestamp(text, tz) -%}
    case
        when {{ timestamp_has_offset(text) }} then try_cast({{ text }} as timestamptz) at time zone 'UTC'
        else timezone('UTC', timezone('{{ tz }}', try_cast({{ text }} as timestamp)))
    end
{%- endmacro %}

{#- Spark: a text with an offset casts to the instant, shown in the session time zone (UTC: profiles.yml), once it
    has seconds and an offset of the form +HH:mm (the steps of expectations/raw_spark_sql.py SPARK_OFFSET_STEPS);
    an offset-less text is read in `tz` (spark__wall_clock_utc). With ANSI mode off (dbt-spark's setting) a text that is
    no timestamp casts to null. -#}
{% macro spark__parse_timestamp(column, tz) -%}
    case
        when {{ column }} rlike '{{ spark_regex("^" ~ timestamp_shape() ~ "\\z") }}'
            then {{ spark__shaped_timestamp(column, tz) }}
        when {{ column }} rlike '{{ spark_regex("^" ~ timestamp_padding() ~ "*" ~ timestamp_shape() ~ timestamp_padding() ~ "*\\z") }}'
            then {{ spark__shaped_timestamp(timestamp_trimmed(column), tz) }}
    end
{%- endmacro %}

{% macro spark__shaped_timestamp(text, tz) -%}
    case
        when {{ timestamp_has_offset(text) }} then try_cast(
            regexp_replace(regexp_replace(regexp_replace({{ text }},
                '^(.{16})([Z+-])', '$1:00$2'), '([+-][0-9]{2})([0-9]{2})$', '$1:$2'), '([+-][0-9]{2})$', '$1:00')
            as timestamp)
        else {{ spark__wall_clock_utc('try_cast(' ~ text ~ ' as timestamp)', "'" ~ tz ~ "'") }}
    end
{%- endmacro %}

{#- The wall-clock time `t` of zone `tz` as UTC, as DuckDB's timezone() reads it: of the two instants an autumn clock
    change gives one wall-clock time, the later (to_utc_timestamp takes the earlier). The offset a day later is the
    one after the change; `t` read with it is that instant when it reads back as `t`. The same expression as
    expectations/raw_spark_sql.py SPARK_WALL_CLOCK_UTC. -#}
{% macro spark__wall_clock_utc(t, tz) -%}
    case when from_utc_timestamp(to_utc_timestamp({{ t }} + interval 1 day, {{ tz }}) - interval 1 day, {{ tz }}) = {{ t }}
        then to_utc_timestamp({{ t }} + interval 1 day, {{ tz }}) - interval 1 day else to_utc_timestamp({{ t }}, {{ tz }}) end
{%- endmacro %}
