-- The records whose staged content changed in this build (staging `_changed_at`): new records, new versions of an
-- order or CRM contact, re-deliveries with other content. The per-record identity models of an incremental build
-- rework only these (on a full build every record is here).
{{ config(materialized='table') }}

with

final as (
    {%- for source_name, model, key in staged_sources() %}
    select distinct '{{ source_name }}' as source_name, cast({{ key }} as {{ dbt.type_string() }}) as record_id
    from {{ ref(model) }}
    where _changed_at = {{ build_started_at() }} and {{ key }} is not null
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
)

select * from final
