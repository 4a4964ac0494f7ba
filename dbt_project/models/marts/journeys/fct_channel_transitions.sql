-- From channel to channel: how often one touch of a path is followed by the next, by position in the path
-- (step_number is the position of the "from" touch; 0 for the '(start)' of a path). Every path ends in
-- '(conversion)' or '(no conversion)'. Raw paths (the touches of fct_conversion_paths.path_channels), so a
-- channel repeated in a row shows as a transition to itself (is_repeat). The data behind a Sankey diagram; sum
-- over step_number for channel-to-channel totals.
with

paths as (select * from {{ ref('int_journeys__paths') }}),

ordered as (
    select
        *,
        lead(channel) over (partition by path_id order by touch_position) as next_channel
    from paths
),

transitions as (
    select
        0 as step_number,
        '(start)' as from_channel,
        channel as to_channel,
        is_converted
    from ordered
    where touch_position = 1

    union all

    select
        touch_position,
        channel,
        case
            when next_channel is not null then next_channel
            when is_converted then '(conversion)'
            else '(no conversion)'
        end,
        is_converted
    from ordered
),

final as (
    select
        cast(step_number as integer) as step_number,
        from_channel,
        to_channel,
        from_channel = to_channel as is_repeat,
        cast(count(*) as integer) as transitions_count,
        cast(sum(case when is_converted then 1 else 0 end) as integer) as converting_transitions_count
    from transitions
    group by step_number, from_channel, to_channel
)

select * from final
