-- The Markov removal-effect shares sum to 1 (up to their 9-decimal rounding) whenever any channel has an effect,
-- and every removal effect lies in [0, 1]. Returns a row when they do not.
select sum(removal_effect_share) as share_sum, min(removal_effect) as min_effect, max(removal_effect) as max_effect
from {{ ref('int_journeys__markov_removal_effects') }}
having (sum(removal_effect) > 0 and abs(sum(removal_effect_share) - 1) > 1e-6)
    or min(removal_effect) < 0
    or max(removal_effect) > 1
