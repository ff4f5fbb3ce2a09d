-- Roost registry, schema version 3: fleet provisioning over MQTT.

-- Certificate ownership tokens: a certificate created over MQTT (CreateKeysAndCertificate,
-- CreateCertificateFromCsr) is PENDING_ACTIVATION until RegisterThing presents its token.
CREATE TABLE ownership_tokens (
    token                TEXT PRIMARY KEY,
    certificate_id       TEXT NOT NULL,
    expires_ms           BIGINT NOT NULL
);
CREATE INDEX ownership_tokens_by_expiry ON ownership_tokens (expires_ms);

-- Claim certificates of trusted-user provisioning (CreateProvisioningClaim): short-lived, kept
-- apart from the certificate list as on AWS.
CREATE TABLE provisioning_claims (
    certificate_id       TEXT PRIMARY KEY,
    template_name        TEXT NOT NULL,
    pem                  TEXT NOT NULL,
    expires_ms           BIGINT NOT NULL,
    created_ms           BIGINT NOT NULL
);
