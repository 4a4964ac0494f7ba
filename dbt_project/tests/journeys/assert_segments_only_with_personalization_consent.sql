-- Personalization segments and audiences are only for customers whose resolved consent allows it
-- (docs/privacy.md): every segment column of customer_360 is null without personalization consent. A withdrawal
-- (the latest consent signal, int_identity__customer_consent) takes effect at the next run. Fails with the
-- customers that carry a segment without consent.
select customer_id, visitor_segment, is_mobile_first, referral_source, is_at_risk, value_segment
from {{ ref('customer_360') }}
where not coalesce(personalization_consent, false)
    and (
        visitor_segment is not null
        or is_mobile_first is not null
        or referral_source is not null
        or is_at_risk is not null
        or value_segment is not null
    )
