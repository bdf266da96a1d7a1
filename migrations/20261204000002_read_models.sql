-- Read models owned by the projections crate. Every row here is derived from the events
-- table and can be rebuilt from the ordered feed; nothing here is a source of truth.

-- Each case as its applicant and staff see it: the folded SubmissionView.
CREATE TABLE my_submissions
(
    case_number  text        PRIMARY KEY,
    -- The applicant's identity-platform user id (token `sub`).
    applicant_id text        NOT NULL,
    -- ApplicationStatus name, e.g. SUBMITTED.
    status       text        NOT NULL,
    submitted_at timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    view         jsonb       NOT NULL
);

-- "My submissions", newest first, paged by (submitted_at, case_number).
CREATE INDEX my_submissions_by_applicant
    ON my_submissions (applicant_id, submitted_at DESC, case_number DESC);

-- The clerks' work queues: a case waits in the queue of its status, if it has one.
CREATE TABLE queue_items
(
    kind         text        NOT NULL CHECK (kind IN ('ACCEPTANCE', 'APPROVAL', 'DISPATCH')),
    case_number  text        NOT NULL,
    -- When the case entered this queue.
    entered_at   timestamptz NOT NULL,
    submitted_at timestamptz NOT NULL,
    item         jsonb       NOT NULL,
    PRIMARY KEY (kind, case_number)
);

-- Each queue, oldest first, paged by (entered_at, case_number).
CREATE INDEX queue_items_oldest_first ON queue_items (kind, entered_at, case_number);
-- Finding a case's current queue when an event moves it.
CREATE INDEX queue_items_by_case ON queue_items (case_number);

-- How far each projector has applied the ordered feed, moved in the same transaction as
-- its read model. The row lock also keeps two runners of one projector from overlapping.
CREATE TABLE projector_checkpoints
(
    name            text        PRIMARY KEY,
    transaction_id  xid8        NOT NULL,
    global_position bigint      NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
