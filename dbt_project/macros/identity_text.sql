-- Text helpers for identity resolution. DuckDB-specific functions live here, behind adapter.dispatch.

-- A name reduced to lower-case ASCII letters: 'José  O''Brien' -> 'joseobrien'. Accents dropped, so a typed
-- 'Jose' and 'José' agree.
{% macro identity_name_key(expression) -%}
    nullif({{ regexp_replace_all('lower(' ~ identity_strip_accents(expression) ~ ')', '[^a-z]', '') }}, '')
{%- endmacro %}

{% macro identity_strip_accents(expression) -%}
    {{ return(adapter.dispatch('identity_strip_accents', 'customer_journey')(expression)) }}
{%- endmacro %}

{% macro duckdb__identity_strip_accents(expression) -%}
    strip_accents({{ expression }})
{%- endmacro %}

{% macro default__identity_strip_accents(expression) -%}
    translate({{ expression }}, 'áàâäãåéèêëíìîïóòôöõúùûüñçÁÀÂÄÃÅÉÈÊËÍÌÎÏÓÒÔÖÕÚÙÛÜÑÇ', 'aaaaaaeeeeiiiiooooouuuuncAAAAAAEEEEIIIIOOOOOUUUUNC')
{%- endmacro %}

-- Similarity of two strings in [0, 1] (1 = equal): Jaro-Winkler on DuckDB, normalised Levenshtein elsewhere.
{% macro identity_similarity(a, b) -%}
    {{ return(adapter.dispatch('identity_similarity', 'customer_journey')(a, b)) }}
{%- endmacro %}

{% macro duckdb__identity_similarity(a, b) -%}
    jaro_winkler_similarity({{ a }}, {{ b }})
{%- endmacro %}

{% macro default__identity_similarity(a, b) -%}
    (1.0 - cast(levenshtein({{ a }}, {{ b }}) as double) / greatest(length({{ a }}), length({{ b }}), 1))
{%- endmacro %}

-- Edit distance of two strings: Damerau-Levenshtein on DuckDB (a transposition is one edit), Levenshtein
-- elsewhere (a transposition is two: a Spark port loses the transposed-letter levels unless it adds one).
{% macro identity_edit_distance(a, b) -%}
    {{ return(adapter.dispatch('identity_edit_distance', 'customer_journey')(a, b)) }}
{%- endmacro %}

{% macro duckdb__identity_edit_distance(a, b) -%}
    damerau_levenshtein({{ a }}, {{ b }})
{%- endmacro %}

{% macro default__identity_edit_distance(a, b) -%}
    levenshtein({{ a }}, {{ b }})
{%- endmacro %}

-- Whether two strings are at most one edit apart (identity_edit_distance <= 1), worked out cheaply first. DuckDB's
-- damerau_levenshtein costs about five Levenshteins (6.3 s against 1.2 s over the 15 M compared pairs of person
-- records at 500k people), and most pairs are far apart: one edit changes a length by at most one, and a
-- transposition is two Levenshtein edits, so Damerau-Levenshtein <= 1 exactly when the lengths differ by at most one
-- and either Levenshtein <= 1 or Levenshtein = 2 and Damerau-Levenshtein <= 1 (only those few pairs pay for it).
{% macro identity_within_one_edit(a, b) -%}
    {{ return(adapter.dispatch('identity_within_one_edit', 'customer_journey')(a, b)) }}
{%- endmacro %}

{% macro duckdb__identity_within_one_edit(a, b) -%}
    (abs(length({{ a }}) - length({{ b }})) <= 1
        and (levenshtein({{ a }}, {{ b }}) <= 1
             or (levenshtein({{ a }}, {{ b }}) = 2 and damerau_levenshtein({{ a }}, {{ b }}) <= 1)))
{%- endmacro %}

{% macro default__identity_within_one_edit(a, b) -%}
    ({{ identity_edit_distance(a, b) }} <= 1)
{%- endmacro %}

-- True when the name `expression` is a placeholder of any type ('unknown', 'n/a', ...: the exact values of seed
-- identity_placeholder_values for type '*'): such a name is treated as missing.
{% macro identity_is_placeholder_name(expression) -%}
    lower(trim({{ expression }})) in (
        select lower(value_pattern) from {{ ref('identity_placeholder_values') }}
        where identifier_type = '*' and match_kind = 'exact'
    )
{%- endmacro %}
