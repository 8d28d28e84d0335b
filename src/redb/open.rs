//! Opening an execstore file with redb: typed errors naming the path, and the schema check.

use std::path::Path;

use redb::{Database, DatabaseError, ReadableDatabase, StorageError, TableHandle};

use super::tables::{create_all, META, OLDEST_SCHEMA_VERSION, SCHEMA_VERSION, SCHEMA_VERSION_KEY};
use crate::error::{Error, Result};

/// Opens (or creates) the redb file at `path` with `builder` and checks that it is an
/// execstore file of this schema version, writing the version into a new file.
pub(crate) fn open_database(path: &Path, builder: &redb::Builder) -> Result<Database> {
    check_parent(path)?;
    let db = builder.create(path).map_err(|e| open_error(path, e))?;
    check_schema(&db, path)?;
    Ok(db)
}

/// Opens (or initializes) a database on a caller-supplied redb storage backend, e.g. a
/// fault-injecting one in tests; errors name the path `<custom backend>`.
pub(crate) fn open_backend(
    backend: impl redb::StorageBackend,
    builder: &redb::Builder,
) -> Result<Database> {
    let path = Path::new(CUSTOM_BACKEND);
    let db = builder.create_with_backend(backend).map_err(|e| open_error(path, e))?;
    check_schema(&db, path)?;
    Ok(db)
}

/// The path errors name for a database on a custom backend.
pub(crate) const CUSTOM_BACKEND: &str = "<custom backend>";

fn check_parent(path: &Path) -> Result<()> {
    if path.is_dir() {
        return Err(Error::InvalidArgument(format!(
            "{} is a directory, not a file",
            path.display()
        )));
    }
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
    match parent {
        Some(dir) if !dir.is_dir() => Err(Error::io(
            path,
            std::io::Error::new(std::io::ErrorKind::NotFound, "parent directory does not exist"),
        )),
        _ => Ok(()),
    }
}

/// Maps redb's open error to ours, naming the file.
pub(crate) fn open_error(path: &Path, err: DatabaseError) -> Error {
    let path = path.to_path_buf();
    match err {
        DatabaseError::DatabaseAlreadyOpen | DatabaseError::LockProtocolMismatch => {
            Error::AlreadyOpen { path }
        }
        // redb reports a foreign file (bad magic number) as InvalidData.
        DatabaseError::Storage(StorageError::Io(source))
            if source.kind() == std::io::ErrorKind::InvalidData =>
        {
            Error::NotExecstore { path, reason: source.to_string() }
        }
        DatabaseError::Storage(StorageError::Io(source)) => Error::Io { path, source },
        DatabaseError::Storage(StorageError::Corrupted(reason)) => {
            Error::NotExecstore { path, reason }
        }
        DatabaseError::UpgradeRequired(version) => Error::NotExecstore {
            path,
            reason: format!("redb file format {version} needs an upgrade"),
        },
        other => Error::Database { path, reason: other.to_string() },
    }
}

/// Reads `meta.schema_version`: a fresh file gets ours and every table, a redb file with
/// other tables but no version is foreign.
fn check_schema(db: &Database, path: &Path) -> Result<()> {
    match read_schema_version(db, path)? {
        Some(found) if (OLDEST_SCHEMA_VERSION..=SCHEMA_VERSION).contains(&found) => {
            super::script_keys::ensure(db)?;
            super::viz_blobs::ensure(db)?;
            super::record_value::ensure(db)?;
            super::minutes::ensure(db)?;
            super::fields::ensure(db)?;
            super::scripts::ensure(db)?;
            super::dag_counts::ensure(db)?;
            if found < SCHEMA_VERSION {
                write_schema_version(db, path)?;
            }
            Ok(())
        }
        Some(found) => Err(Error::SchemaVersion {
            path: path.to_path_buf(),
            found: u32::try_from(found).unwrap_or(u32::MAX),
            expected: SCHEMA_VERSION as u32,
        }),
        None if has_tables(db, path)? => Err(Error::NotExecstore {
            path: path.to_path_buf(),
            reason: "a redb database without execstore's schema version".to_owned(),
        }),
        None => write_schema_version(db, path),
    }
}

fn read_schema_version(db: &Database, path: &Path) -> Result<Option<u64>> {
    let db_err = |e: &dyn std::fmt::Display| Error::Database {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let txn = db.begin_read().map_err(|e| db_err(&e))?;
    let table = match txn.open_table(META) {
        Ok(table) => table,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
        Err(e) => return Err(db_err(&e)),
    };
    let version = table.get(SCHEMA_VERSION_KEY).map_err(|e| db_err(&e))?;
    Ok(version.map(|v| v.value()))
}

fn has_tables(db: &Database, path: &Path) -> Result<bool> {
    let db_err = |e: &dyn std::fmt::Display| Error::Database {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let txn = db.begin_read().map_err(|e| db_err(&e))?;
    let mut tables = txn.list_tables().map_err(|e| db_err(&e))?;
    Ok(tables.any(|t| t.name() != META.name()))
}

fn write_schema_version(db: &Database, path: &Path) -> Result<()> {
    let db_err = |e: &dyn std::fmt::Display| Error::Database {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let txn = db.begin_write().map_err(|e| db_err(&e))?;
    {
        create_all(&txn).map_err(|e| db_err(&e))?;
        let mut meta = txn.open_table(META).map_err(|e| db_err(&e))?;
        meta.insert(SCHEMA_VERSION_KEY, SCHEMA_VERSION).map_err(|e| db_err(&e))?;
    }
    txn.commit().map_err(|e| db_err(&e))
}
