-- Event stitching: links between an anonymous visitor and a known person that no single record carries,
-- read from two records that describe the same moment (candidate pairs: int_identity__stitch_candidates, rules in
-- var identity_stitching). Each stitch is a virtual record carrying the identifiers of both sides, so it goes
-- through the same guards as any record:
-- - guest_checkout links the visitor cookie of a guest web purchase to the e-mail, phone and account of the web
--   order placed at that moment;
-- - email_click_through links the cookie or device of a newsletter landing to the e-mail of the click.
-- A stitch is made only when the match is unique both ways: one candidate on each side within the window.
-- Rebuilt every run from the candidate pairs (a few per guest purchase and click, not per event).
-- depends_on: {{ ref('int_identity__previous_links') }}

with

candidates as (select * from {{ ref('int_identity__stitch_candidates') }}),
record_identifiers as (select * from {{ ref('int_identity__record_identifiers') }}),

unique_pairs as (
    select
        rule_name,
        left_source || ':' || left_id || ' ~ ' || right_source || ':' || right_id as stitch_id,
        left_identifier_type,
        left_identifier_value,
        right_source,
        right_id,
        right_identifier_type,
        right_identifier_value
    from candidates
    -- one candidate on each side (aggregates and semi-joins: two window counts over the 752k candidates at 500k
    -- people took twice as long)
    where
    {%- for side in ['left', 'right'] %}
        exists (
            select 1 from (
                select rule_name, {{ side }}_source, {{ side }}_id from candidates
                group by rule_name, {{ side }}_source, {{ side }}_id having count(*) = 1
            ) as one_pair
            where one_pair.rule_name = candidates.rule_name and one_pair.{{ side }}_source = candidates.{{ side }}_source
                and one_pair.{{ side }}_id = candidates.{{ side }}_id
        ){{ ' and' if not loop.last }}
    {%- endfor %}
),

final as (
    select rule_name, stitch_id, left_identifier_type as identifier_type, left_identifier_value as identifier_value
    from unique_pairs
    union all
    select rule_name, stitch_id, right_identifier_type, right_identifier_value
    from unique_pairs
    where right_identifier_type is not null
    union all
    -- a guest checkout carries every identifier of its order
    select unique_pairs.rule_name, unique_pairs.stitch_id, record_identifiers.identifier_type,
        record_identifiers.identifier_value
    from unique_pairs
    inner join record_identifiers
        on record_identifiers.source_name = unique_pairs.right_source and record_identifiers.record_id = unique_pairs.right_id
    where unique_pairs.rule_name = 'guest_checkout'
)

select distinct
    rule_name,
    stitch_id,
    identifier_type,
    identifier_value,
    identifier_type || ':' || identifier_value as node_id
from final
