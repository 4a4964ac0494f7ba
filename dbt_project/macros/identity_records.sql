-- Every staged row of every source reduced to what identity resolution needs: the record key, when it was seen, and
-- the identifiers it carries (one column per identifier type; tracked_url and tracked_url_2: URLs whose tracked
-- subscriber parameters are read by int_identity__record_identifiers). Versions of an order or CRM contact are separate rows;
-- they share the record key. With changed_only, only the rows of int_identity__changed_records (every version of a
-- changed record), filtered in each source so that an incremental build reads only those.
{% macro identity_source_records(changed_only=false) -%}
{%- set branches = [
    ('web_events', 'stg_web__events', 'event_id', 'occurred_at',
        {'anonymous_id': 'anonymous_id', 'user_id': 'user_id', 'order_id': 'order_id',
         'tracked_url': 'page_url', 'tracked_url_2': 'referrer_url'}),
    ('app_events', 'stg_app__events', 'event_id', 'occurred_at', {'device_id': 'device_id', 'user_id': 'user_id'}),
    ('orders', 'stg_shop__orders', 'order_id', 'order_updated_at',
        {'email': 'email', 'phone': 'phone', 'user_id': 'user_id', 'order_id': 'order_id'}),
    ('pos_transactions', 'stg_pos__transactions', 'transaction_id', 'occurred_at', {'phone': 'phone', 'loyalty_id': 'loyalty_id'}),
    ('email_events', 'stg_email__events', 'event_id', 'occurred_at',
        {'email': 'email', 'subscriber_id': 'subscriber_id', 'tracked_url': 'link_url'}),
    ('crm_contacts', 'stg_crm__contacts', 'contact_id', 'updated_at',
        {'email': 'email', 'phone': 'phone', 'loyalty_id': 'loyalty_id', 'crm_contact_id': 'contact_id',
         'user_id': 'account_id'}),
    ('support_tickets', 'stg_support__tickets', 'ticket_id', 'opened_at', {'email': 'email', 'phone': 'phone'}),
    ('reviews', 'stg_reviews__reviews', 'review_id', 'posted_at', {'email': 'email', 'user_id': 'user_id'}),
] -%}
{%- set identifier_types = ['email', 'phone', 'anonymous_id', 'device_id', 'user_id', 'loyalty_id', 'crm_contact_id',
    'order_id', 'subscriber_id', 'tracked_url', 'tracked_url_2'] -%}
    select
        source_name,
        record_id,
        observed_at,
        -- staging already normalises; this only makes blanks null and trims, so that a staging change cannot
        -- silently turn '' into an identifier that links everyone
        nullif(lower(trim(email)), '') as email,
        nullif(replace(trim(phone), ' ', ''), '') as phone,
        nullif(trim(anonymous_id), '') as anonymous_id,
        nullif(trim(device_id), '') as device_id,
        nullif(trim(user_id), '') as user_id,
        nullif(trim(loyalty_id), '') as loyalty_id,
        nullif(trim(crm_contact_id), '') as crm_contact_id,
        nullif(trim(order_id), '') as order_id,
        nullif(trim(subscriber_id), '') as subscriber_id,
        tracked_url,
        tracked_url_2
    from (
        {%- for source_name, model, key, observed, columns in branches %}
        select
            '{{ source_name }}' as source_name,
            cast({{ key }} as {{ dbt.type_string() }}) as record_id,
            {{ observed }} as observed_at
            {%- for identifier_type in identifier_types %},
            {% if identifier_type in columns -%}
            cast({{ columns[identifier_type] }} as {{ dbt.type_string() }})
            {%- else -%}
            cast(null as {{ dbt.type_string() }})
            {%- endif %} as {{ identifier_type }}
            {%- endfor %}
        from {{ ref(model) }}
        {%- if changed_only %}
        where cast({{ key }} as {{ dbt.type_string() }}) in (
            select record_id from {{ ref('int_identity__changed_records') }} where source_name = '{{ source_name }}'
        )
        {%- endif %}
        {% if not loop.last %}union all{% endif %}
        {%- endfor %}
    ) as unioned
    where record_id is not null
{%- endmacro %}

{#- The distinct sources of the records that carry a value, in order: 'crm_contacts,orders'. #}
{% macro identifier_sources(source_name) -%}
    {{ listagg('distinct ' ~ source_name, "','", 'order by ' ~ source_name) }}
{%- endmacro %}

{#- Fills `sources` where it is missing (a table built before the column existed; costs nothing once filled). #}
{% macro fill_identifier_sources(relation) -%}
    {{ return(adapter.dispatch('fill_identifier_sources')(relation)) }}
{%- endmacro %}

{% macro spark__fill_identifier_sources(relation) -%}{%- endmacro %}

{% macro default__fill_identifier_sources(relation) -%}
    update {{ relation }} as stored
    set sources = computed.sources
    from (
        select node_id, {{ identifier_sources('source_name') }} as sources
        from {{ ref('int_identity__record_identifiers') }}
        where node_id in (select node_id from {{ relation }} where sources is null)
        group by node_id
    ) as computed
    where stored.node_id = computed.node_id
{%- endmacro %}

-- The rows of `identifiers` (a relation with source_name, record_id) of the records in any of `record_sets` (a list of
-- [flag, relation] pairs, each relation with source_name, record_id), with one boolean column per flag: is the record
-- in that set. One pass over the identifiers for every set (int_identity__graph_scope, int_identity__edges: a pass
-- over every record's identifiers per set cost 0.4-0.6 s each at 500k people).
{% macro identity_identifiers_of_records(identifiers, record_sets) -%}
    select identifiers.*{% for flag, _ in record_sets %}, looked_up.{{ flag }}{% endfor %}
    from {{ identifiers }} as identifiers
    inner join (
        select source_name, record_id{% for flag, _ in record_sets %}, bool_or({{ flag }}) as {{ flag }}{% endfor %}
        from (
            {%- for flag, relation in record_sets %}
            select source_name, record_id
                {%- for other, _ in record_sets %}, {{ 'true' if other == flag else 'false' }} as {{ other }}{% endfor %}
            from {{ relation }}
            {%- if not loop.last %}
            union all
            {%- endif %}
            {%- endfor %}
        ) as records
        group by source_name, record_id
    ) as looked_up
        on looked_up.source_name = identifiers.source_name and looked_up.record_id = identifiers.record_id
{%- endmacro %}

