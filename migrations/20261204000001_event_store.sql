-- The event store: the table postgres-es expects, plus columns the server fills in that
-- postgres-es never names, so its inserts keep working.
CREATE TABLE events
(
    aggregate_type  text                         NOT NULL,
    aggregate_id    text                         NOT NULL,
    sequence        bigint CHECK (sequence >= 0) NOT NULL,
    event_type      text                         NOT NULL,
    event_version   text                         NOT NULL,
    payload         json                         NOT NULL,
    metadata        json                         NOT NULL,
    -- Store-wide position in insertion order. Not commit order: see transaction_id.
    global_position bigint GENERATED ALWAYS AS IDENTITY,
    -- The writing transaction. The ordered feed reads (transaction_id, global_position)
    -- below the oldest running transaction, so an event that commits late is never skipped.
    transaction_id  xid8        NOT NULL DEFAULT pg_current_xact_id(),
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (aggregate_type, aggregate_id, sequence)
);

CREATE UNIQUE INDEX events_global_position ON events (global_position);
CREATE INDEX events_feed_order ON events (transaction_id, global_position);

-- Present because postgres-es names it; teacher-cert runs in plain event-store mode and
-- never writes snapshots.
CREATE TABLE snapshots
(
    aggregate_type   text                                 NOT NULL,
    aggregate_id     text                                 NOT NULL,
    last_sequence    bigint CHECK (last_sequence >= 0)    NOT NULL,
    current_snapshot bigint CHECK (current_snapshot >= 0) NOT NULL,
    payload          json                                 NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id, last_sequence)
);

-- Events are facts: once written they are never changed or removed.
CREATE FUNCTION events_are_append_only() RETURNS trigger
    LANGUAGE plpgsql AS
$$
BEGIN
    RAISE EXCEPTION 'events are append-only' USING ERRCODE = 'restrict_violation';
END;
$$;

CREATE TRIGGER events_append_only
    BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_are_append_only();

-- Idempotent commands: each event carries its command id in metadata; the first
-- transaction to record a command id wins, and any other copy of the command fails on
-- the primary key (SQLSTATE 23505) with nothing written.
CREATE TABLE processed_commands
(
    command_id     text PRIMARY KEY,
    aggregate_type text        NOT NULL,
    aggregate_id   text        NOT NULL,
    transaction_id xid8        NOT NULL DEFAULT pg_current_xact_id(),
    recorded_at    timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION record_processed_command() RETURNS trigger
    LANGUAGE plpgsql AS
$$
DECLARE
    command text := NEW.metadata ->> 'command_id';
BEGIN
    IF command IS NULL THEN
        RETURN NEW;
    END IF;
    -- A command that emits several events records itself once.
    IF EXISTS (SELECT 1
               FROM processed_commands
               WHERE command_id = command
                 AND transaction_id = pg_current_xact_id()) THEN
        RETURN NEW;
    END IF;
    INSERT INTO processed_commands (command_id, aggregate_type, aggregate_id)
    VALUES (command, NEW.aggregate_type, NEW.aggregate_id);
    RETURN NEW;
END;
$$;

CREATE TRIGGER events_record_command
    BEFORE INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION record_processed_command();

-- At most one open case (awaiting a decision) per person, enforced in the transaction that
-- appends the event, so two racing submissions cannot both open a case.
CREATE TABLE open_cases
(
    id_doc_type   text NOT NULL,
    id_doc_number text NOT NULL,
    case_number   text NOT NULL UNIQUE,
    PRIMARY KEY (id_doc_type, id_doc_number)
);

CREATE FUNCTION track_open_case() RETURNS trigger
    LANGUAGE plpgsql AS
$$
BEGIN
    IF NEW.aggregate_type <> 'Application' THEN
        RETURN NEW;
    END IF;
    IF NEW.event_type = 'ApplicationSubmitted' THEN
        INSERT INTO open_cases (id_doc_type, id_doc_number, case_number)
        VALUES (NEW.payload -> 'ApplicationSubmitted' -> 'applicant' -> 'id_document' ->> 'doc_type',
                NEW.payload -> 'ApplicationSubmitted' -> 'applicant' -> 'id_document' ->> 'number',
                NEW.aggregate_id);
    ELSIF NEW.event_type IN ('ApplicationNotAccepted', 'ApplicationApproved',
                             'ApplicationNotApproved') THEN
        DELETE FROM open_cases WHERE case_number = NEW.aggregate_id;
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER events_track_open_case
    AFTER INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION track_open_case();

-- Wake-ups for feed followers on every replica. The payload is empty: followers read the
-- feed, never trust the notification's content.
CREATE FUNCTION notify_events_appended() RETURNS trigger
    LANGUAGE plpgsql AS
$$
BEGIN
    PERFORM pg_notify('events_appended', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER events_notify
    AFTER INSERT ON events
    FOR EACH STATEMENT EXECUTE FUNCTION notify_events_appended();

-- Case numbers: a sequence value, permuted with a secret key by the service.
CREATE SEQUENCE case_number_seq AS bigint MINVALUE 0 START 1;

-- Certificate serials, per certifying authority and year.
CREATE TABLE certificate_serials
(
    authority_code text    NOT NULL,
    year           integer NOT NULL,
    last_serial    integer NOT NULL,
    PRIMARY KEY (authority_code, year)
);

-- Files applicants uploaded, waiting to be attached to a submission. The bytes live in
-- object storage under their SHA-256; only the uploader may use an upload id.
CREATE TABLE uploads
(
    id          uuid PRIMARY KEY,
    owner_id    text        NOT NULL,
    kind        text        NOT NULL,
    sha256      text        NOT NULL,
    size        bigint      NOT NULL,
    media_type  text        NOT NULL,
    uploaded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX uploads_owner ON uploads (owner_id);
