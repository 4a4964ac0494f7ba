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

-- Similarity of two strings in [0, 1] (1 = equal): Jaro-Winkler on DuckDB and Spark, normalised Levenshtein elsewhere.
{% macro identity_similarity(a, b) -%}
    {{ return(adapter.dispatch('identity_similarity', 'customer_journey')(a, b)) }}
{%- endmacro %}

{% macro duckdb__identity_similarity(a, b) -%}
    jaro_winkler_similarity({{ a }}, {{ b }})
{%- endmacro %}

{% macro default__identity_similarity(a, b) -%}
    (1.0 - cast(levenshtein({{ a }}, {{ b }}) as double) / greatest(length({{ a }}), length({{ b }}), 1))
{%- endmacro %}

-- Spark has no Jaro-Winkler: DuckDB's, written with Spark's higher-order functions. Jaro: each character of `a` in
-- turn matches the first unmatched equal character of `b` within max(len) / 2 - 1 positions (`m1`, `m2`: the matched
-- positions); half the matched characters that differ in order are transpositions `t`; jaro = (m / len(a) +
-- m / len(b) + (m - t) / m) / 3. Winkler: above 0.7, plus 0.1 per character of the common prefix (at most 4) times
-- (1 - jaro). An empty string is 0, as on DuckDB. On 25,007 name pairs of the 500k data (random and one-edit
-- variants) it equals DuckDB's to 1e-12 (50 of them differ in the last bit, at 0.805 and 0.9667: not at the
-- 0.88 threshold). Double literals (`0.1D`): Spark reads `0.1` as a decimal.
{% macro spark__identity_similarity(a, b) -%}
    {%- set window = "greatest(floor(greatest(length(" ~ a ~ "), length(" ~ b ~ ")) / 2) - 1, 0)" -%}
    {%- set free -%}
        filter(sequence(0, length({{ b }}) - 1), j -> abs(j - i) <= {{ window }} and not array_contains(acc.m2, j)
            and substr({{ b }}, j + 1, 1) = substr({{ a }}, i + 1, 1))
    {%- endset -%}
    {%- set m = "cast(size(acc.m1) as double)" -%}
    (case when length({{ a }}) = 0 or length({{ b }}) = 0 then cast(0 as double) else aggregate(
        sequence(0, length({{ a }}) - 1),
        named_struct('m1', cast(array() as array<int>), 'm2', cast(array() as array<int>)),
        (acc, i) -> case
            when size({{ free }}) > 0
            then named_struct('m1', concat(acc.m1, array(i)), 'm2', concat(acc.m2, slice({{ free }}, 1, 1)))
            else acc
        end,
        acc -> case when size(acc.m1) = 0 then cast(0 as double) else element_at(transform(array(
            ({{ m }} / length({{ a }}) + {{ m }} / length({{ b }})
             + ({{ m }} - floor(size(filter(sequence(0, size(acc.m1) - 1), k ->
                    substr({{ a }}, acc.m1[k] + 1, 1) <> substr({{ b }}, array_sort(acc.m2)[k] + 1, 1))) / 2)) / {{ m }}) / 3.0D),
            jaro -> case
                when jaro > 0.7D then jaro + size(filter(sequence(1, least(4, length({{ a }}), length({{ b }}))),
                    k -> substr({{ a }}, 1, k) = substr({{ b }}, 1, k))) * 0.1D * (1.0D - jaro)
                else jaro
            end), 1) end
    ) end)
{%- endmacro %}

-- Edit distance of two strings: Damerau-Levenshtein on DuckDB (a transposition is one edit), Levenshtein
-- elsewhere (a transposition is two; Spark's identity_within_one_edit counts it as one without this macro).
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

-- Spark has Levenshtein only: at most one edit is Levenshtein <= 1, or two strings of one length that are equal but
-- for one pair of adjacent characters swapped (a transposition: Levenshtein 2, Damerau-Levenshtein 1).
{% macro spark__identity_within_one_edit(a, b) -%}
    (abs(length({{ a }}) - length({{ b }})) <= 1
        and (levenshtein({{ a }}, {{ b }}) <= 1
             or (levenshtein({{ a }}, {{ b }}) = 2 and length({{ a }}) = length({{ b }})
                 and exists(sequence(1, length({{ a }}) - 1), i -> substr({{ a }}, i, 1) = substr({{ b }}, i + 1, 1)
                     and substr({{ a }}, i + 1, 1) = substr({{ b }}, i, 1)
                     and substr({{ a }}, 1, i - 1) = substr({{ b }}, 1, i - 1)
                     and substr({{ a }}, i + 2) = substr({{ b }}, i + 2)))))
{%- endmacro %}

-- True when the name `expression` is a placeholder of any type ('unknown', 'n/a', ...: the exact values of seed
-- identity_placeholder_values for type '*'): such a name is treated as missing.
{% macro identity_is_placeholder_name(expression) -%}
    lower(trim({{ expression }})) in (
        select lower(value_pattern) from {{ ref('identity_placeholder_values') }}
        where identifier_type = '*' and match_kind = 'exact'
    )
{%- endmacro %}
