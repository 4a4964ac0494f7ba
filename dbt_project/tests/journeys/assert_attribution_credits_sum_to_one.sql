-- For every conversion and attribution model the credits sum to 1 and the revenue credits to the conversion
-- value (within vars attribution_credit_tolerance and attribution_revenue_tolerance, the mart gate's tolerances),
-- and every conversion has every model of var attribution_models. Returns the offending conversion/model pairs.
-- An incremental build checks the conversions whose rows it wrote (macros/test_scope.sql `built_tonight`); the
-- mart gate on fct_attribution checks every conversion before publishing, the Markov credits the post-hook updated in
-- place among them (docs/journeys.md "Data tests of an incremental build").
with

per_model as (
    select
        conversion_id,
        model,
        sum(credit) as credit_sum,
        sum(revenue_credit) as revenue_credit_sum,
        max(conversion_value) as conversion_value
    from {{ ref('fct_attribution') }}
    where {{ built_tonight(ref('fct_attribution'), 'conversion_id') }}
    group by conversion_id, model
),

models_per_conversion as (
    select conversion_id, count(*) as models_count
    from per_model
    group by conversion_id
)

select per_model.conversion_id, per_model.model, per_model.credit_sum, per_model.revenue_credit_sum,
    per_model.conversion_value, models_per_conversion.models_count
from per_model
inner join models_per_conversion on models_per_conversion.conversion_id = per_model.conversion_id
where abs(per_model.credit_sum - 1) > {{ var('attribution_credit_tolerance') }}
    or abs(per_model.revenue_credit_sum - coalesce(per_model.conversion_value, 0)) > {{ var('attribution_revenue_tolerance') }}
    or models_per_conversion.models_count <> {{ var('attribution_models') | length }}
