//! [`EventsTx`] on PostgreSQL: `pg_notify` on the channel of the schema in
//! use, delivered to every listening instance when the transaction commits
//! (see `crate::instances`).

use super::PgTx;
use crate::db::events::CHANNEL;
use crate::db::{Announcement, DbError, EventsTx};

impl EventsTx for PgTx<'_, '_> {
    fn announce(&mut self, event: Announcement) -> Result<(), DbError> {
        // The channel name must match `instances::channel(current_schema())`.
        let sql = format!(
            "SELECT pg_notify('{CHANNEL}_' || regexp_replace(current_schema(), '[^A-Za-z0-9]', '_', 'g'), $1)"
        );
        self.query_opt(&sql, &[&event.to_string()])?;
        Ok(())
    }
}
