//! Authentication: verifies the identity platform's JWT and turns its claims into a
//! `Caller`. The contract is `api-contract/auth.md`.

use chrono::{DateTime, Utc};
use domain::commands::VerifiedIdentity;
use domain::values::{Actor, Role};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::settings::TokenKey;

/// The token claims teacher-cert reads.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_doc_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_doc_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub face_verified_at: Option<i64>,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
}

/// The verified person behind a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: String,
    pub name: String,
    pub roles: Vec<Role>,
    claims: Claims,
}

impl Caller {
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// When the token stops being valid (its `exp`, without leeway).
    pub fn expires_at(&self) -> Option<DateTime<Utc>> {
        DateTime::<Utc>::from_timestamp(self.claims.exp, 0)
    }

    /// Staff may read any case; applicants only their own.
    pub fn is_staff(&self) -> bool {
        self.roles.iter().any(|role| *role != Role::Applicant)
    }

    /// The actor recorded on events for a command this caller issues in `role`.
    pub fn actor(&self, role: Role) -> Actor {
        Actor {
            id: self.user_id.clone(),
            role,
        }
    }

    /// The identity as the identity platform verified it, for submissions.
    pub fn verified_identity(&self) -> VerifiedIdentity {
        VerifiedIdentity {
            user_id: self.user_id.clone(),
            name: self.name.clone(),
            assurance_level: self.claims.acr.clone().unwrap_or_default(),
            id_doc_type: self.claims.id_doc_type.clone(),
            id_doc_number: self.claims.id_doc_number.clone(),
            face_verified_at: self
                .claims
                .face_verified_at
                .and_then(|seconds| DateTime::<Utc>::from_timestamp(seconds, 0)),
        }
    }
}

/// Why a token was refused. The detail is logged, never sent to the client.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("the Authorization header is not `Bearer <token>`")]
    MalformedHeader,
    #[error("token rejected: {0}")]
    Invalid(#[from] jsonwebtoken::errors::Error),
    #[error("token has an empty or malformed subject")]
    EmptySubject,
    #[error("token claim {0} holds control characters or is too long")]
    MalformedClaim(&'static str),
}

/// Verifies tokens with one key, as configured.
#[derive(Clone)]
pub struct TokenVerifier {
    key: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenVerifier")
            .field("algorithms", &self.validation.algorithms)
            .finish_non_exhaustive()
    }
}

impl TokenVerifier {
    pub fn new(key: &TokenKey, issuer: Option<&str>) -> anyhow::Result<Self> {
        let (key, algorithm) = match key {
            TokenKey::Secret(secret) => (DecodingKey::from_secret(secret.as_bytes()), Algorithm::HS256),
            TokenKey::PublicKeyPem(pem) => match DecodingKey::from_rsa_pem(pem) {
                Ok(key) => (key, Algorithm::RS256),
                Err(_) => (
                    DecodingKey::from_ec_pem(pem).map_err(|error| {
                        anyhow::anyhow!("AUTH_JWT_PUBLIC_KEY_FILE is neither an RSA nor an EC public key: {error}")
                    })?,
                    Algorithm::ES256,
                ),
            },
        };
        let mut validation = Validation::new(algorithm);
        validation.leeway = 30;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "sub"]);
        if let Some(issuer) = issuer {
            validation.set_issuer(&[issuer]);
        }
        Ok(Self { key, validation })
    }

    /// Verifies an `Authorization` header value (`Bearer <jwt>`).
    pub fn verify_header(&self, header: &str) -> Result<Caller, AuthError> {
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or(AuthError::MalformedHeader)?;
        self.verify(token.trim())
    }

    pub fn verify(&self, token: &str) -> Result<Caller, AuthError> {
        let claims = jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation)?.claims;
        if claims.sub.trim().is_empty() || !is_clean(&claims.sub) {
            return Err(AuthError::EmptySubject);
        }
        let texts = [
            ("name", Some(&claims.name)),
            ("acr", claims.acr.as_ref()),
            ("id_doc_type", claims.id_doc_type.as_ref()),
            ("id_doc_number", claims.id_doc_number.as_ref()),
        ];
        for (claim, value) in texts {
            if value.is_some_and(|value| !is_clean(value)) {
                return Err(AuthError::MalformedClaim(claim));
            }
        }
        let roles = claims.roles.iter().filter_map(|r| Role::parse(r)).collect();
        Ok(Caller {
            user_id: claims.sub.clone(),
            name: claims.name.clone(),
            roles,
            claims,
        })
    }
}

/// A claim the service can store and log: at most 200 characters, none of them control
/// characters (PostgreSQL text cannot even hold NUL).
fn is_clean(value: &str) -> bool {
    value.chars().count() <= 200 && !value.chars().any(char::is_control)
}

/// Signs development tokens with an HS256 secret.
pub fn sign_development_token(claims: &Claims, secret: &str) -> anyhow::Result<String> {
    let token = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )?;
    Ok(token)
}
