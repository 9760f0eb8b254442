//! Opening the service's database from a CLI command: connect, then bring the schema up to date,
//! so every command that reads or writes it (users, keys, models, outbox, erase) does it one way.
use anyhow::Context;

use crate::store::Store;

/// The store at `url` (`sqlite://PATH` or `postgres://…`), migrated.
pub async fn open_migrated(url: &str) -> anyhow::Result<Store> {
    let store = Store::connect(url)
        .await
        .context("cannot open the database")?;
    store
        .migrate()
        .await
        .context("cannot migrate the database")?;
    Ok(store)
}
