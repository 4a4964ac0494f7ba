-- Keyed customer ids (docs/privacy.md "Customer ids"; orchestration/lib/customer_ids.py).
--
-- 'cus_' + the first 16 hex digits of HMAC-SHA256(customer-id key, text). The key never appears in SQL: the
-- pipeline's dbt step hands it to dbt's process in JOURNEY_CUSTOMER_ID_KEY, and the dbt-duckdb plugin of
-- profiles.yml sets HMAC's inner and outer padded keys as the DuckDB variables read here, on every connection.
-- sha256 of a BLOB gives the digest as hex; from_hex turns the inner digest back into its 32 bytes, so this is
-- exactly sha256(outer || sha256(inner || text)) = HMAC (RFC 2104).
{% macro keyed_customer_id(text) -%}
    {{ return(adapter.dispatch('keyed_customer_id')(text)) }}
{%- endmacro %}

{% macro default__keyed_customer_id(text) -%}
    'cus_' || substr(sha256(
        {{ customer_id_key_variable('journey_customer_id_outer') }}
        || from_hex(sha256({{ customer_id_key_variable('journey_customer_id_inner') }} || encode({{ text }})))
    ), 1, 16)
{%- endmacro %}

-- Spark: the same HMAC. The key reaches Spark as the session setting spark.journey.customer_id_key
-- (dbt_project/profiles.yml, from JOURNEY_CUSTOMER_ID_KEY); ${...} is replaced by its value when Spark parses the
-- statement, so dbt compiles and logs the setting's name only (an unset setting reads as ''). HMAC's padded keys
-- are made in SQL: each of the 64 key bytes (the 32-byte key zero-padded) XOR 0x36 (inner) and XOR 0x5c (outer).
{% macro spark__keyed_customer_id(text) -%}
    'cus_' || substr(sha2(concat(
        {{ spark_customer_id_pad(92) }},
        unhex(sha2(concat({{ spark_customer_id_pad(54) }}, encode({{ text }}, 'UTF-8')), 256))
    ), 256), 1, 16)
{%- endmacro %}

{% macro spark_customer_id_key() -%}
    (case
        when '${spark.journey.customer_id_key}' rlike '^[0-9a-f]{64}$' then '${spark.journey.customer_id_key}'
        else raise_error('{{ customer_id_key_missing() }}')
    end)
{%- endmacro %}

{% macro spark_customer_id_pad(xor_byte) -%}
    unhex(concat_ws('', transform(sequence(0, 63), position -> lpad(hex(
        cast(conv(substr(rpad({{ spark_customer_id_key() }}, 128, '0'), 2 * position + 1, 2), 16, 10) as int) ^ {{ xor_byte }}
    ), 2, '0'))))
{%- endmacro %}

-- A padded key, or an error when dbt's process was started without the key (never an id from an empty key).
{% macro customer_id_key_variable(name) -%}
    (case
        when getvariable('{{ name }}') is null then error('{{ customer_id_key_missing() }}')
        else getvariable('{{ name }}')
    end)
{%- endmacro %}

{% macro customer_id_key_missing() -%}
    no customer-id key: the id map makes keyed customer ids and dbt was started without JOURNEY_CUSTOMER_ID_KEY (journey run sets it from the privacy key; to run dbt by hand, see dbt_project/profiles.yml)
{%- endmacro %}

-- Pre-hooks of int_identity__customer_id_map. The first fails the build at once without the key, even when no
-- row needs a new id. The others re-key a map an older version built with md5 ids (computable from an identifier):
-- its rows have no customer_id_scheme. Each md5 id X becomes keyed_customer_id('rekey|' || X), in customer_id,
-- first_customer_id and previous_customer_id alike (so a reclaimed first id is keyed too); rekeyed_from keeps X on
-- the rows whose customer it was, and customer_merges records X -> new id as a 'rekey'. The pipeline rebuilds
-- every other incremental model in that run (their rows carry the old ids: orchestration/defs/dbt/assets.py).
{% macro customer_id_map_pre_hook(step) -%}
    {%- if step == 'key' and target.type == 'spark' -%}
        select {{ spark_customer_id_key() }} is not null as has_key
    {%- elif step == 'key' -%}
        select {{ customer_id_key_variable('journey_customer_id_inner') }} is not null as has_key
    {%- elif target.type == 'spark' -%}
        {#- nothing to re-key on Spark: its maps were keyed from the start, with every column #}
    {%- elif is_incremental() and step in ('customer_id_scheme', 'rekeyed_from') -%}
        alter table {{ this }} add column if not exists {{ step }} varchar
    {%- elif is_incremental() and step == 'rekey' -%}
        update {{ this }} set
            rekeyed_from = customer_id,
            customer_id = {{ keyed_customer_id("'rekey|' || customer_id") }},
            first_customer_id = {{ keyed_customer_id("'rekey|' || first_customer_id") }},
            previous_customer_id = {{ keyed_customer_id("'rekey|' || previous_customer_id") }},
            customer_id_scheme = 'hmac-sha256'
        where customer_id_scheme is null
    {%- endif -%}
{%- endmacro %}
