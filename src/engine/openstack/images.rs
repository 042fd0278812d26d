//! Images on both sides: the source's snapshots and the target's copies (markers in their properties); the copy itself is `copy.rs`.

use super::*;
use crate::cloud::image::UsageEntry;
use crate::engine::port::ImageQuota;

impl Images for OpenStack {
    async fn images(&self, side: Side) -> PortResult<Vec<Image>> {
        let listed = self
            .side(side)
            .image
            .list(&GlanceQuery {
                limit: Some(source_servers::PAGE),
                ..GlanceQuery::default()
            })
            .await
            .map_err(api(&call(side, "list images")))?;
        Ok(listed.into_iter().map(image).collect())
    }

    async fn wait_image_active(
        &self,
        side: Side,
        id: &str,
        timeout: Duration,
    ) -> PortResult<Image> {
        let what = match side {
            Side::Source => "snapshot",
            Side::Target => "image",
        };
        wait_image(self.side(side), id, timeout, what).await
    }

    async fn delete_image(&self, side: Side, id: &str) -> PortResult<()> {
        deleted(
            format!("{} image {id}", side_name(side)),
            self.side(side).image.delete(&ImageId::new(id)).await,
            &call(side, "delete image"),
        )
    }

    async fn image_quota(&self, side: Side) -> PortResult<ImageQuota> {
        let usage = match self.side(side).image.usage().await {
            // A Glance that does not tell (before Yoga: 404; unified limits off: no usage).
            Ok(usage) => usage.unwrap_or_default(),
            // A policy that hides it from the project: not told either.
            Err(e) if e.status() == Some(403) => Default::default(),
            Err(e) => return Err(port_error(&call(side, "image quota usage"), e)),
        };
        // oslo.limit refuses any use beyond a negative limit: nothing fits in it.
        let quota = |entry: Option<UsageEntry>| {
            entry.map(|e| QuotaUse {
                limit: e.limit.max(0) as u64,
                used: e.usage.max(0) as u64,
            })
        };
        Ok(ImageQuota {
            size_mib: quota(usage.image_size_total),
            images: quota(usage.image_count_total),
        })
    }

    async fn create_image(&self, spec: &ImageSpec) -> PortResult<Image> {
        let mut properties = spec.properties.clone();
        properties.extend(spec.marker.to_metadata());
        let create = ImageCreate {
            name: spec.name.clone(),
            disk_format: spec.disk_format.clone(),
            container_format: spec.container_format.clone(),
            visibility: Some(spec.visibility.clone()),
            properties,
            min_disk: (spec.min_disk > 0).then_some(spec.min_disk),
            min_ram: (spec.min_ram > 0).then_some(spec.min_ram),
            ..ImageCreate::default()
        };
        let query = ImageQuery {
            name: Some(spec.name.clone()),
            marker: Some(spec.marker.clone()),
        };
        let made = cloud::create_or_adopt(
            &self.target.session.config().retry,
            CREATE_ATTEMPTS,
            || async { self.target.image.create(&create).await.map(image) },
            || async {
                let found = self
                    .target
                    .image
                    .list(&GlanceQuery {
                        name: query.name.clone(),
                        ..GlanceQuery::default()
                    })
                    .await?;
                Ok(found
                    .into_iter()
                    .map(image)
                    .find(|i| i.marker == query.marker))
            },
        )
        .await
        .map_err(api("target: create image"))?;
        Ok(made)
    }

    async fn upload_image(
        &self,
        target_id: &str,
        source_id: &str,
        copy: &CopySpec,
        progress: Progress,
    ) -> PortResult<Checksums> {
        self.copy_image(target_id, source_id, copy, progress).await
    }

    async fn update_image(&self, id: &str, update: &ImageUpdate) -> PortResult<()> {
        let mut patch = Vec::new();
        if let Some(visibility) = &update.visibility {
            patch.push(ImagePatch::Replace(
                "visibility".into(),
                serde_json::Value::String(visibility.clone()),
            ));
        }
        for (k, v) in &update.set {
            patch.push(ImagePatch::Set(
                k.clone(),
                serde_json::Value::String(v.clone()),
            ));
        }
        for k in &update.remove {
            patch.push(ImagePatch::Remove(k.clone()));
        }
        if patch.is_empty() {
            return Ok(());
        }
        self.target
            .image
            .patch(&ImageId::new(id), &patch)
            .await
            .map_err(api("target: update image"))?;
        Ok(())
    }
}
