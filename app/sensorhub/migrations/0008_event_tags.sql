-- Tags: what an event is about, beyond its own stream (a device's name at its site, ...). An append
-- may carry a condition "no event of these types with these tags after position P" (dynamic
-- consistency boundaries; see docs/eventstore.md). The functions that write and check tags are
-- functions/eventstore_lock_tags.sql (why it is safe), eventstore_append*_tagged.sql,
-- eventstore_matching.sql, eventstore_prepare_append.sql and eventstore_read_matching.sql.
--
-- One row per (event, tag); the event's type is repeated so that the condition is a single range
-- scan of the primary key: tag = $1 AND type = ANY ($2) AND position > $3. Measured against a
-- text[] column with a GIN index in docs/eventstore.md ("Tag layout").
CREATE TABLE event_tags (
    tag       text   NOT NULL,
    type      text   NOT NULL,
    position  bigint NOT NULL,
    PRIMARY KEY (tag, type, position)
);

-- Tags for the device events already stored: each event that can change who holds a device name
-- carries the name's tag before and after it (sensorhub.domain.device.name_tag, same format):
-- 'device-name:' || length(site) || ':' || site || '/' || name.
WITH device_events AS (
    SELECT e.position, e.stream_id, e.stream_version, e.type,
           e.data ->> 'site' AS site_set, e.data ->> 'name' AS name_set
      FROM events e JOIN streams s ON s.stream_id = e.stream_id
     WHERE s.stream_type = 'Device'
), runs AS (  -- each event starts a new run of the field it sets
    SELECT d.*, count(d.site_set) OVER w AS site_run, count(d.name_set) OVER w AS name_run
      FROM device_events d
    WINDOW w AS (PARTITION BY d.stream_id ORDER BY d.stream_version)
), after_each AS (
    SELECT r.position, r.stream_id, r.stream_version, r.type,
           first_value(r.site_set) OVER (PARTITION BY r.stream_id, r.site_run ORDER BY r.stream_version) AS site,
           first_value(r.name_set) OVER (PARTITION BY r.stream_id, r.name_run ORDER BY r.stream_version) AS name
      FROM runs r
), before_and_after AS (
    SELECT a.*, lag(a.site) OVER w AS site_before, lag(a.name) OVER w AS name_before
      FROM after_each a
    WINDOW w AS (PARTITION BY a.stream_id ORDER BY a.stream_version)
)
INSERT INTO event_tags (tag, type, position)
SELECT DISTINCT t.tag, b.type, b.position
  FROM before_and_after b
 CROSS JOIN LATERAL (VALUES
        ('device-name:' || length(b.site_before) || ':' || b.site_before || '/' || b.name_before),
        ('device-name:' || length(b.site) || ':' || b.site || '/' || b.name)) AS t(tag)
 WHERE b.type IN ('DeviceRegistered', 'DeviceRenamed', 'DeviceMoved', 'DeviceDecommissioned')
   AND t.tag IS NOT NULL;
