//! `xcs-processor backfill`: a shop's history, read from its platform API and booked through
//! the same path as webhooks and polls.
