//! The ledger's schema, as ordered migrations: the `n`th string is version `n` in
//! `xcs_migrations`, applied once by [`super::Ledger::connect`].

/// Ordered schema migrations; each runs once, in this order. Append new ones; never edit or
/// reorder these, which existing databases have applied by their position.
pub(super) const MIGRATIONS: &[&str] = &[
    r"
CREATE TABLE xcs_events (
    event_id     TEXT PRIMARY KEY,
    platform     TEXT NOT NULL,
    shop         TEXT NOT NULL,
    tenant       TEXT NOT NULL,
    kind         TEXT NOT NULL,
    topic        TEXT NOT NULL,
    received_at  TEXT NOT NULL,
    processed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    outcome      TEXT NOT NULL,
    detail       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX xcs_events_shop_time ON xcs_events (shop, processed_at);
CREATE TABLE xcs_documents (
    tenant       TEXT NOT NULL,
    doc_key      TEXT NOT NULL,
    kind         TEXT NOT NULL,
    number       TEXT NOT NULL,
    xero_id      TEXT NOT NULL,
    shop         TEXT NOT NULL,
    business_key TEXT NOT NULL,
    currency     TEXT NOT NULL,
    total        NUMERIC NOT NULL,
    order_number TEXT NOT NULL,
    tax_mode     TEXT NOT NULL,
    event_id     TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, doc_key)
);
CREATE INDEX xcs_documents_order ON xcs_documents (shop, kind, business_key);
CREATE TABLE xcs_payments (
    tenant      TEXT NOT NULL,
    payment_key TEXT NOT NULL,
    xero_id     TEXT NOT NULL,
    doc_key     TEXT NOT NULL,
    account     TEXT NOT NULL,
    amount      NUMERIC NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, payment_key)
);
CREATE INDEX xcs_payments_doc ON xcs_payments (tenant, doc_key);
CREATE TABLE xcs_contacts (
    tenant      TEXT NOT NULL,
    contact_key TEXT NOT NULL,
    contact_id  TEXT NOT NULL,
    PRIMARY KEY (tenant, contact_key)
);
CREATE TABLE xcs_stock (
    shop       TEXT NOT NULL,
    item_id    TEXT NOT NULL,
    location   TEXT NOT NULL,
    sku        TEXT,
    level      TEXT NOT NULL,
    event_id   TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (shop, item_id, location)
);
CREATE TABLE xcs_xero_tokens (
    connection        TEXT PRIMARY KEY,
    refresh_token     TEXT NOT NULL,
    access_token      TEXT,
    access_expires_at TIMESTAMPTZ,
    updated_at        TIMESTAMPTZ NOT NULL DEFAULT now()
);
",
    r"
CREATE TABLE xcs_xero_connections (
    tenant_id     TEXT PRIMARY KEY,
    connection    TEXT NOT NULL,
    connection_id TEXT NOT NULL,
    tenant_name   TEXT NOT NULL DEFAULT '',
    tenant_type   TEXT NOT NULL DEFAULT '',
    auth_event_id TEXT NOT NULL DEFAULT '',
    connected_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
",
    // Summary mode (`crate::summary`): a shop's periods and what each order or refund adds.
    r"
CREATE TABLE xcs_summary_periods (
    shop           TEXT NOT NULL,
    currency       TEXT NOT NULL,
    period_start   TIMESTAMPTZ NOT NULL,
    period_end     TIMESTAMPTZ NOT NULL,
    tenant         TEXT NOT NULL,
    status         TEXT NOT NULL DEFAULT 'open',
    attempts       INT NOT NULL DEFAULT 0,
    invoice_number TEXT NOT NULL DEFAULT '',
    detail         TEXT NOT NULL DEFAULT '',
    closed_at      TIMESTAMPTZ,
    PRIMARY KEY (shop, currency, period_start)
);
CREATE INDEX xcs_summary_periods_due ON xcs_summary_periods (status, period_end);
CREATE TABLE xcs_summary_entries (
    shop         TEXT NOT NULL,
    kind         TEXT NOT NULL,
    business_key TEXT NOT NULL,
    currency     TEXT NOT NULL,
    period_start TIMESTAMPTZ NOT NULL,
    number       TEXT NOT NULL,
    tax_mode     TEXT NOT NULL,
    total        NUMERIC NOT NULL,
    lines        JSONB NOT NULL,
    payments     JSONB NOT NULL,
    event_id     TEXT NOT NULL,
    detail       TEXT NOT NULL DEFAULT '',
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (shop, kind, business_key)
);
CREATE INDEX xcs_summary_entries_period ON xcs_summary_entries (shop, currency, period_start);
",
    // What an invoice sold and a credit note credited, per line (`crate::refund_limit`), so a
    // refund can be held to what its order has left to refund.
    r"
ALTER TABLE xcs_documents ADD COLUMN quantities JSONB;
CREATE INDEX xcs_documents_order_number ON xcs_documents (tenant, shop, kind, order_number);
",
    // The sample orders `xcs-processor test-transaction` sent, by the event that carried each:
    // their documents are no sales, so reconcile neither reports them voided nor books them
    // again. Only the ledger can say so on every path: through the ingress the event id is the
    // ingress's, and a number like `TEST…` could be a real order's.
    r"
CREATE TABLE xcs_test_transactions (
    event_id TEXT PRIMARY KEY,
    shop     TEXT NOT NULL,
    tenant   TEXT NOT NULL,
    order_id TEXT NOT NULL,
    sent_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
",
    // Where each shop's poller (and each backfill) has read the platform up to, and who is
    // reading it now (`crate::poll`): the cursor survives restarts, and the lease lets one
    // processor at a time read a shop.
    r"
CREATE TABLE xcs_poll_state (
    shop          TEXT NOT NULL,
    purpose       TEXT NOT NULL,
    platform      TEXT NOT NULL,
    cursor        TIMESTAMPTZ NOT NULL,
    leased_by     TEXT,
    leased_until  TIMESTAMPTZ,
    next_poll_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_poll_at  TIMESTAMPTZ,
    last_found    INT NOT NULL DEFAULT 0,
    last_calls    INT NOT NULL DEFAULT 0,
    last_error    TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (shop, purpose)
);
CREATE INDEX xcs_documents_event ON xcs_documents (event_id);
",
    // How each event reached us (its `xcs-source`: webhook, poll or backfill), so reconcile can
    // name what was booked only because the platform's API was read, whatever its event id
    // looks like (a polled id too long or not plain text is a hash). Empty for events recorded
    // before this column.
    r"
ALTER TABLE xcs_events ADD COLUMN source TEXT NOT NULL DEFAULT '';
",
    // When the processor voided an order's invoice because the order was cancelled: Xero
    // keeps a voided invoice's number, so an order booked again afterwards gets the next
    // number of its own (`crate::booking`, "Booked again").
    r"
ALTER TABLE xcs_documents ADD COLUMN voided_at TIMESTAMPTZ;
",
    // The orders whose own event is parked in `xcs.dead` (`xero_plan_limit`: the organisation's
    // plan approves no more invoices), by the event that carried each: an event that waits for
    // such an order (a refund, a capture) is parked with it instead of waiting out the retry
    // tiers (`crate::consumer`). A replay of the order's event forgets it.
    r"
CREATE TABLE xcs_parked_orders (
    shop      TEXT NOT NULL,
    order_id  TEXT NOT NULL,
    tenant    TEXT NOT NULL,
    event_id  TEXT NOT NULL,
    reason    TEXT NOT NULL,
    parked_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (shop, order_id)
);
",
    // The Xero items each tenant has, by code (README "Inventory: items mode"), so a SKU costs a
    // Xero look-up (or creation) once, not one per order. `code_key` is the code upper-cased, as
    // Xero compares codes; `sku` is the SKU whose derived code it is (NULL for a code given in
    // `mapping.items`), to find two SKUs whose derived codes collide.
    r"
CREATE TABLE xcs_items (
    tenant      TEXT NOT NULL,
    code_key    TEXT NOT NULL,
    code        TEXT NOT NULL,
    item_id     TEXT NOT NULL,
    sku         TEXT,
    recorded_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, code_key)
);
",
    // Tracked inventory (README "Inventory: tracked mode"). Each stock level keeps when the
    // ingress received it (`reported_at`: an older level never overwrites a newer one), the
    // platform's unit cost, and the Xero item code it counts for (upper-cased, as Xero compares
    // codes). `xcs_stock_moves` holds the units each order (out, negative) and restocked refund
    // (in, positive) moves per item code, from the moment the processor first reads it: a move
    // whose document the ledger does not hold yet (`xcs_documents` by shop, kind and
    // business key) is stock the platform already counted and Xero does not yet, which a stock
    // adjustment must leave alone. `xcs_stock_reports` holds when each stock event's levels
    // were recorded, once: an event that waited in a retry tier is not recorded again over a
    // later one's. `xcs_stock_adjustments` records each adjustment posted. `xcs_items.name` is
    // the name the processor last gave an item, so a product renamed on the platform is
    // renamed in Xero once.
    r"
ALTER TABLE xcs_items ADD COLUMN name TEXT;
ALTER TABLE xcs_stock ADD COLUMN reported_at TIMESTAMPTZ;
ALTER TABLE xcs_stock ADD COLUMN unit_cost NUMERIC;
ALTER TABLE xcs_stock ADD COLUMN code_key TEXT;
CREATE INDEX xcs_stock_code ON xcs_stock (shop, code_key);
CREATE TABLE xcs_stock_moves (
    shop         TEXT NOT NULL,
    kind         TEXT NOT NULL,
    business_key TEXT NOT NULL,
    code_key     TEXT NOT NULL,
    units        NUMERIC NOT NULL,
    event_id     TEXT NOT NULL,
    received_at  TIMESTAMPTZ NOT NULL,
    moved_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (shop, kind, business_key, code_key)
);
CREATE INDEX xcs_stock_moves_code ON xcs_stock_moves (shop, code_key);
CREATE TABLE xcs_stock_reports (
    event_id    TEXT PRIMARY KEY,
    recorded_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE xcs_stock_adjustments (
    tenant        TEXT NOT NULL,
    shop          TEXT NOT NULL,
    event_id      TEXT NOT NULL,
    code_key      TEXT NOT NULL,
    platform_level NUMERIC NOT NULL,
    xero_on_hand  NUMERIC NOT NULL,
    in_flight     NUMERIC NOT NULL,
    units         NUMERIC NOT NULL,
    unit_cost     NUMERIC NOT NULL,
    xero_id       TEXT NOT NULL,
    kind          TEXT NOT NULL,
    posted_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (shop, event_id, code_key)
);
",
    // Payouts (README "Payouts"). `xcs_payouts` holds each payout seen, held (its parts are
    // not all booked: `reason` names what is missing, `difference` the amount) or booked, once
    // per shop and platform payout id, whichever event brought it. `xcs_payout_orders` holds
    // what each booked payout settled of each order, so a payment settled by one payout is
    // not counted again for another. `xcs_payout_entries` holds each Xero entry a payout's
    // booking made (its fees bill, the bill's payment, the transfer), so a booking that failed
    // part way makes only the rest.
    r"
CREATE TABLE xcs_payouts (
    shop        TEXT NOT NULL,
    payout_id   TEXT NOT NULL,
    tenant      TEXT NOT NULL,
    currency    TEXT NOT NULL,
    amount      NUMERIC NOT NULL,
    paid_on     DATE NOT NULL,
    state       TEXT NOT NULL,
    reason      TEXT NOT NULL DEFAULT '',
    difference  NUMERIC NOT NULL DEFAULT 0,
    fees        NUMERIC NOT NULL DEFAULT 0,
    event_id    TEXT NOT NULL,
    bill        TEXT NOT NULL DEFAULT '',
    transfer    TEXT NOT NULL DEFAULT '',
    first_seen  TIMESTAMPTZ NOT NULL DEFAULT now(),
    booked_at   TIMESTAMPTZ,
    PRIMARY KEY (shop, payout_id)
);
CREATE INDEX xcs_payouts_paid_on ON xcs_payouts (shop, paid_on);
CREATE TABLE xcs_payout_orders (
    shop      TEXT NOT NULL,
    payout_id TEXT NOT NULL,
    order_id  TEXT NOT NULL,
    charged   NUMERIC NOT NULL,
    refunded  NUMERIC NOT NULL,
    PRIMARY KEY (shop, payout_id, order_id)
);
CREATE INDEX xcs_payout_orders_order ON xcs_payout_orders (shop, order_id);
CREATE TABLE xcs_payout_entries (
    tenant     TEXT NOT NULL,
    entry_key  TEXT NOT NULL,
    kind       TEXT NOT NULL,
    xero_id    TEXT NOT NULL,
    amount     NUMERIC NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, entry_key)
);
",
    // The dead-letter index (README "When an event fails"): one row per event the dead queue
    // `xcs.dead` holds or held, kept in step by the processor (on dead-lettering) and the
    // operators' tools (replay, purge, `dead reindex`), so the console pages through 100,000
    // dead letters on indexes instead of reading the queue. Empty text means a header absent.
    // `state`: dead, replayed, purged or gone (not in the queue at the last reindex);
    // `state_by`: the operator (or `cli`) who replayed or purged it.
    r"
CREATE TABLE xcs_dead_letters (
    event_id   TEXT PRIMARY KEY,
    platform   TEXT NOT NULL DEFAULT '',
    shop       TEXT NOT NULL DEFAULT '',
    tenant     TEXT NOT NULL DEFAULT '',
    kind       TEXT NOT NULL DEFAULT '',
    topic      TEXT NOT NULL DEFAULT '',
    reason     TEXT NOT NULL,
    by_broker  BOOLEAN NOT NULL DEFAULT false,
    attempts   INT,
    last_error TEXT,
    dead_at    TIMESTAMPTZ NOT NULL,
    state      TEXT NOT NULL DEFAULT 'dead'
               CHECK (state IN ('dead', 'replayed', 'purged', 'gone')),
    state_at   TIMESTAMPTZ,
    state_by   TEXT
);
CREATE INDEX xcs_dead_letters_page ON xcs_dead_letters (dead_at DESC, event_id DESC)
    WHERE state = 'dead';
CREATE INDEX xcs_dead_letters_shop ON xcs_dead_letters (shop, dead_at DESC, event_id DESC)
    WHERE state = 'dead';
CREATE INDEX xcs_dead_letters_reason ON xcs_dead_letters (reason, dead_at DESC, event_id DESC)
    WHERE state = 'dead';
CREATE INDEX xcs_dead_letters_tenant ON xcs_dead_letters (tenant, dead_at DESC, event_id DESC)
    WHERE state = 'dead';
CREATE INDEX xcs_dead_letters_counts ON xcs_dead_letters (shop, platform, reason)
    WHERE state = 'dead';
",
    // The operator's console (`crate::console`): every action an operator took there, who
    // and when, run once per action id (a form sent twice finds its first run); and the last
    // `check` and reconcile result per shop, for the overview. The events index serves the
    // overview's counts of today per shop from the index alone; the tenants' shards (which the
    // consistent-hash exchange chose) give each shop's backlog, and a shop's dead letters by
    // time, whatever became of them, its chart.
    r"
CREATE TABLE xcs_console_actions (
    action_id   TEXT PRIMARY KEY,
    operator    TEXT NOT NULL,
    action      TEXT NOT NULL,
    subject     TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('running', 'done', 'failed')),
    progress    TEXT NOT NULL DEFAULT '',
    result      TEXT NOT NULL DEFAULT '',
    link        TEXT NOT NULL DEFAULT '',
    link_text   TEXT NOT NULL DEFAULT '',
    started_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at TIMESTAMPTZ
);
CREATE INDEX xcs_console_actions_started ON xcs_console_actions (started_at DESC, action_id);
CREATE TABLE xcs_shop_checks (
    shop      TEXT NOT NULL,
    kind      TEXT NOT NULL CHECK (kind IN ('check', 'reconcile')),
    ran_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    ok        BOOLEAN NOT NULL,
    summary   TEXT NOT NULL,
    action_id TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (shop, kind)
);
CREATE INDEX xcs_events_time ON xcs_events (processed_at) INCLUDE (shop, outcome, source);
CREATE INDEX xcs_dead_letters_shop_time ON xcs_dead_letters (shop, dead_at);
CREATE TABLE xcs_tenant_shards (
    tenant  TEXT PRIMARY KEY,
    queue   TEXT NOT NULL,
    seen_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
",
    // The authorization-code flow's pending states (`setup::connect`), shared by the
    // `connect` server and every processor's console, so a callback may land on any processor
    // behind the same address, not only the one that started it. Only a SHA-256 of each state
    // is kept; a state is used up by the callback that deletes it.
    r"
CREATE TABLE xcs_oauth_states (
    state_hash TEXT PRIMARY KEY,
    started_by TEXT NOT NULL DEFAULT '',
    expires_at TIMESTAMPTZ NOT NULL
);
",
];
