//! Uploaded materials: checks what a file really is, stores it content-addressed (SHA-256)
//! through `object_store`, and records who uploaded it so that only they may attach it.

use std::sync::Arc;

use anyhow::Context;
use chrono::{DateTime, Utc};
use domain::values::{Material, MaterialKind, MaterialSource};
use domain::Reason;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, PutPayload};
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

use crate::error::ApiError;

/// Media types teacher-cert accepts, recognised by their leading bytes, never by the name
/// or the client's claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaType {
    Jpeg,
    Png,
    Pdf,
}

impl MediaType {
    pub fn sniff(bytes: &[u8]) -> Option<Self> {
        const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
        if bytes.len() > 3 && bytes[..3] == [0xFF, 0xD8, 0xFF] {
            Some(Self::Jpeg)
        } else if bytes.len() > 16 && bytes.starts_with(PNG_SIGNATURE) && &bytes[12..16] == b"IHDR"
        {
            Some(Self::Png)
        } else if bytes.starts_with(b"%PDF-") {
            Some(Self::Pdf)
        } else {
            None
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
            Self::Pdf => "application/pdf",
        }
    }
}

/// Size limits per kind of upload.
#[derive(Debug, Clone, Copy)]
pub struct UploadLimits {
    pub max_photo_bytes: u64,
    pub max_document_bytes: u64,
}

/// A stored upload, as `uploadMaterial` reports it.
#[derive(Debug, Clone)]
pub struct StoredUpload {
    pub id: Uuid,
    pub kind: MaterialKind,
    pub sha256: String,
    pub size: u64,
    pub media_type: String,
    pub uploaded_at: DateTime<Utc>,
}

pub struct MaterialStore {
    objects: Arc<dyn ObjectStore>,
    pool: PgPool,
    limits: UploadLimits,
}

impl MaterialStore {
    pub fn new(objects: Arc<dyn ObjectStore>, pool: PgPool, limits: UploadLimits) -> Self {
        Self {
            objects,
            pool,
            limits,
        }
    }

    /// The largest file any kind accepts; the HTTP layer refuses bigger ones early.
    pub fn largest_upload(&self) -> u64 {
        self.limits
            .max_photo_bytes
            .max(self.limits.max_document_bytes)
    }

    /// Checks and stores one file for `owner_id`. Refuses kinds the service fetches itself,
    /// empty or oversized files, and content that is not of an accepted type for the kind.
    pub async fn upload(
        &self,
        owner_id: &str,
        kind: MaterialKind,
        bytes: Vec<u8>,
    ) -> Result<StoredUpload, ApiError> {
        let media_type = self.check(kind, &bytes)?;
        let sha256 = hex_sha256(&bytes);
        let size = bytes.len() as u64;

        let path = ObjectPath::from(format!("sha256/{}/{}", &sha256[..2], sha256));
        self.objects
            .put(&path, PutPayload::from(bytes))
            .await
            .context("storing an uploaded file")?;

        let id = Uuid::new_v4();
        let uploaded_at: DateTime<Utc> = sqlx::query_scalar(
            "INSERT INTO uploads (id, owner_id, kind, sha256, size, media_type)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING uploaded_at",
        )
        .bind(id)
        .bind(owner_id)
        .bind(kind_code(kind))
        .bind(&sha256)
        .bind(size as i64)
        .bind(media_type.as_str())
        .fetch_one(&self.pool)
        .await?;
        tracing::info!(upload_id = %id, kind = kind_code(kind), size_bytes = size, "material stored");
        Ok(StoredUpload {
            id,
            kind,
            sha256,
            size,
            media_type: media_type.as_str().to_owned(),
            uploaded_at,
        })
    }

    fn check(&self, kind: MaterialKind, bytes: &[u8]) -> Result<MediaType, ApiError> {
        let bad = |reason: Reason, message: String| ApiError::bad_input("file", reason, message);
        let max = match kind {
            MaterialKind::Photo => self.limits.max_photo_bytes,
            MaterialKind::PhysicalExamForm
            | MaterialKind::NoCriminalRecordCertificate
            | MaterialKind::IdentityDocument
            | MaterialKind::Other => self.limits.max_document_bytes,
            _ => {
                return Err(ApiError::bad_input(
                    "kind",
                    Reason::InvalidMaterial,
                    "this kind of material is fetched from other departments, not uploaded",
                ))
            }
        };
        if bytes.is_empty() {
            return Err(bad(Reason::InvalidMaterial, "the file is empty".to_owned()));
        }
        if bytes.len() as u64 > max {
            return Err(bad(
                Reason::FileTooLarge,
                format!("the file is larger than {max} bytes"),
            ));
        }
        let media_type = MediaType::sniff(bytes);
        match (kind, media_type) {
            (MaterialKind::Photo, Some(found @ (MediaType::Jpeg | MediaType::Png))) => Ok(found),
            (MaterialKind::Photo, _) => Err(bad(
                Reason::UnsupportedMediaType,
                "a photo must be a JPEG or PNG image".to_owned(),
            )),
            (_, Some(found)) => Ok(found),
            (_, None) => Err(bad(
                Reason::UnsupportedMediaType,
                "a form must be a PDF, JPEG or PNG file".to_owned(),
            )),
        }
    }

    /// The materials behind upload ids, refusing any id that is malformed, unknown or not
    /// the caller's own (without saying which of these it was).
    pub async fn resolve(&self, owner_id: &str, ids: &[String]) -> Result<Vec<Material>, ApiError> {
        let refused = || {
            ApiError::bad_input(
                "input.materialIds",
                Reason::InvalidMaterial,
                "a material id is not one of your uploads",
            )
        };
        let mut wanted: Vec<Uuid> = ids
            .iter()
            .map(|id| Uuid::parse_str(id.trim()).map_err(|_| refused()))
            .collect::<Result<_, _>>()?;
        wanted.sort_unstable();
        wanted.dedup();

        let rows: Vec<(String, String, i64, String)> = sqlx::query_as(
            "SELECT kind, sha256, size, media_type FROM uploads
             WHERE id = ANY($1) AND owner_id = $2 ORDER BY id",
        )
        .bind(&wanted)
        .bind(owner_id)
        .fetch_all(&self.pool)
        .await?;
        if rows.len() != wanted.len() {
            return Err(refused());
        }
        rows.into_iter()
            .map(|(kind, sha256, size, media_type)| {
                Ok(Material {
                    kind: parse_kind(&kind).ok_or_else(refused)?,
                    source: MaterialSource::Uploaded,
                    sha256,
                    size: size as u64,
                    media_type,
                })
            })
            .collect()
    }
}

fn kind_code(kind: MaterialKind) -> String {
    match serde_json::to_value(kind) {
        Ok(serde_json::Value::String(code)) => code,
        _ => format!("{kind:?}"),
    }
}

fn parse_kind(code: &str) -> Option<MaterialKind> {
    serde_json::from_value(serde_json::Value::String(code.to_owned())).ok()
}

pub fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Opens the object store named by `MATERIALS_URL`; a relative `file://` path is taken from
/// the working directory and created if missing.
pub fn open_object_store(url: &str) -> anyhow::Result<Arc<dyn ObjectStore>> {
    if let Some(path) = url.strip_prefix("file://") {
        let path = std::path::Path::new(path);
        std::fs::create_dir_all(path)
            .with_context(|| format!("creating the materials folder {}", path.display()))?;
        let absolute = path
            .canonicalize()
            .with_context(|| format!("resolving the materials folder {}", path.display()))?;
        let store = object_store::local::LocalFileSystem::new_with_prefix(absolute)?;
        return Ok(Arc::new(store));
    }
    let parsed = url::Url::parse(url).context("MATERIALS_URL is not a URL")?;
    let (store, prefix) = object_store::parse_url_opts(&parsed, std::env::vars())
        .context("MATERIALS_URL names an object store this build cannot open")?;
    let store: Arc<dyn ObjectStore> = Arc::from(store);
    if prefix.as_ref().is_empty() {
        Ok(store)
    } else {
        Ok(Arc::new(object_store::prefix::PrefixStore::new(
            store, prefix,
        )))
    }
}
