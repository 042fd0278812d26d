//! The target's keypairs (they carry no marker: the state's pending record stands for it).

use super::*;

impl Keypairs for OpenStack {
    async fn keypairs(&self) -> PortResult<Vec<Keypair>> {
        Ok(self
            .target
            .compute
            .list_keypairs()
            .await
            .map_err(api("target: list keypairs"))?
            .iter()
            .map(keypair)
            .collect())
    }

    async fn import_keypair(&self, name: &str, public_key: &str) -> PortResult<Keypair> {
        let made = cloud::create_or_adopt(
            &self.target.session.config().retry,
            CREATE_ATTEMPTS,
            || self.target.compute.import_keypair(name, public_key, None),
            || async {
                let found = self.target.compute.get_keypair(name).await?;
                Ok(found.filter(|k| k.public_key.trim() == public_key.trim()))
            },
        )
        .await
        .map_err(api("target: import keypair"))?;
        Ok(keypair(&made))
    }

    async fn create_keypair(&self, name: &str) -> PortResult<GeneratedKeypair> {
        // Not retried blindly: a lost answer would have carried the only copy of the key.
        let made = self
            .target
            .compute
            .create_keypair(name, None)
            .await
            .map_err(api("target: create keypair"))?;
        let private_key = made
            .private_key
            .as_ref()
            .map(|k| k.expose().to_string())
            .ok_or_else(|| PortError::Api {
                diagnosis: Diagnosis::default(),
                call: "target: create keypair".into(),
                status: None,
                message: "the cloud made the keypair but sent no private key".into(),
            })?;
        Ok(GeneratedKeypair {
            keypair: keypair(&made),
            private_key,
        })
    }

    async fn delete_keypair(&self, name: &str) -> PortResult<()> {
        deleted(
            format!("keypair {name}"),
            self.target.compute.delete_keypair(name).await,
            "target: delete keypair",
        )
    }
}
