-- The tables the prediction step (orchestration/lib/prediction.py, after the first dbt build of a run) writes, created
-- empty when missing, so that dbt alone (a new warehouse, `dbt build` by hand, the unit tests) can build customer_360,
-- which reads marts.customer_predictions as a source. Same columns and types as prediction.TABLES (pinned by
-- tests/test_prediction.py); the prediction step replaces them.
{% macro create_prediction_tables() %}
    {{- return(adapter.dispatch('create_prediction_tables')()) -}}
{% endmacro %}

{% macro default__create_prediction_tables() %}
    create schema if not exists marts;
    create table if not exists marts.customer_predictions (
        customer_id varchar, as_of_date date, frequency integer, recency_days integer, tenure_days integer,
        monetary_value double, p_alive double, expected_purchases_30d double, expected_purchases_90d double,
        expected_purchases_365d double, expected_avg_order_value double, expected_revenue_365d double,
        model_version varchar
    );
{% endmacro %}

{#- Spark runs one statement at a time: the schema first, then the table the hook's SQL creates. -#}
{% macro spark__create_prediction_tables() %}
    {%- set marts = 'marts' ~ generation_suffix() -%}
    {%- if execute %}{% do run_query('create schema if not exists ' ~ marts) %}{% endif %}
    create table if not exists {{ marts }}.customer_predictions (
        customer_id string, as_of_date date, frequency integer, recency_days integer, tenure_days integer,
        monetary_value double, p_alive double, expected_purchases_30d double, expected_purchases_90d double,
        expected_purchases_365d double, expected_avg_order_value double, expected_revenue_365d double,
        model_version string
    ) using parquet
{% endmacro %}
