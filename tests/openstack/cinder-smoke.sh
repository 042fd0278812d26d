#!/usr/bin/env bash
# tests/openstack/cinder-smoke.sh: Cinder in the real tier moves real bytes, through the
# `openstack` CLI of the harness venv, as the tenant of one cloud (default `provider`,
# alice/ehr). Run it inside tier.sh (which sets OS_CLIENT_CONFIG_FILE and PATH):
#   tests/openstack/tier.sh bash tests/openstack/cinder-smoke.sh
# or against a running harness: . tests/openstack/run/env.sh; tests/openstack/cinder-smoke.sh
#
#  1. a raw image of known bytes (S2D_SMOKE_IMAGE_MB, default 4 MiB, md5 known);
#  2. a volume from it (1 GiB), 3. a snapshot of that volume, 4. a volume from the snapshot;
#  5. upload-to-image of that copy (`openstack image create --volume`), 6. its download:
#     the image is the whole volume, so its md5 must be the md5 of the original bytes
#     padded with zeros to 1 GiB (and Glance's checksum the same);
#  6b. upload-to-image of the copy as qcow2: a real qcow2, which converted back to raw
#     has the same md5;
#  7. a server booted from the first volume (boot_index 0) with the copy attached as a data
#     volume; `server show` must list both;
#  7b. snapshots of the in-use data volume through the raw API: 400 at microversion 3.0
#     without force, 202 with "force": true, 202 at 3.66 without force;
#  8. `server image create` of that volume-backed server: Nova's zero-byte image whose
#     block_device_mapping property points at new volume snapshots (checked: they exist and
#     become available);
#  9. clean-up, and a check that the project has the volumes, snapshots and images it had
#     before.
# Each step is timed; the timings are printed at the end. Exits non-zero on any mismatch.
set -euo pipefail
CLOUD=${S2D_SMOKE_CLOUD:-provider}
IMAGE_MB=${S2D_SMOKE_IMAGE_MB:-4}
VOLUME_GB=1
TIMEOUT=${S2D_SMOKE_TIMEOUT:-300}
TAG=s2d-smoke-$$
WORK=$(mktemp -d)
PY=${PYTHON:-python3}

os() { openstack --os-cloud "$CLOUD" "$@"; }
fail() { echo "cinder-smoke: FAIL: $*" >&2; exit 1; }
now() { date +%s.%N; }
T0=$(now); TS=$T0
TIMINGS=()
step() {  # step <label>: the time since the previous step
  local t; t=$(now)
  TIMINGS+=("$(printf '%-58s %7.1f s' "$1" "$(awk -v a="$TS" -v b="$t" 'BEGIN { print b - a }')")")
  echo "cinder-smoke: $1 ($(awk -v a="$TS" -v b="$t" 'BEGIN { printf "%.1f", b - a }') s)"
  TS=$t
}
json() {  # json <python expression on d> < json
  "$PY" -c 'import json, sys; d = json.load(sys.stdin); v = eval(sys.argv[1]); print(v if isinstance(v, str) else json.dumps(v))' "$1"
}
wait_for() {  # wait_for <volume|volume snapshot|image> <id> <status>: polls; prints the states seen
  local kind=$1 id=$2 want=$3 st="" seen="" i
  for ((i = 0; i < TIMEOUT * 2; i++)); do
    # shellcheck disable=SC2086
    st=$(os $kind show -f value -c status "$id")
    [[ " $seen " == *" $st "* ]] || seen="$seen $st"
    [ "$st" = "$want" ] && { echo "cinder-smoke:   $kind $id:$seen"; return 0; }
    case $st in error* | killed | deleted) fail "$kind $id is $st (states seen:$seen)" ;; esac
    sleep 0.5
  done
  fail "$kind $id still $st after $TIMEOUT s (states seen:$seen)"
}

# What was made, for the clean-up (also on failure).
SERVER="" VOLUMES=() SNAPSHOTS=() IMAGES=()
cleanup() {
  local rc=$? id
  set +e
  if [ -n "$SERVER" ]; then os server delete --wait "$SERVER" 2> /dev/null; fi
  for id in "${IMAGES[@]}"; do os image delete "$id" 2> /dev/null; done
  for id in "${SNAPSHOTS[@]}"; do os volume snapshot delete "$id" 2> /dev/null; done
  for id in "${SNAPSHOTS[@]}"; do
    for _ in $(seq 120); do os volume snapshot show "$id" > /dev/null 2>&1 || break; sleep 0.5; done
  done
  for id in "${VOLUMES[@]}"; do os volume delete "$id" 2> /dev/null; done
  rm -rf "$WORK"
  [ $rc -eq 0 ] || echo "cinder-smoke: failed (exit $rc); what it made was deleted" >&2
  exit $rc
}
trap cleanup EXIT

count() { os "$@" -f value -c ID | wc -l; }
BEFORE_VOLUMES=$(count volume list)
BEFORE_SNAPSHOTS=$(count volume snapshot list)
BEFORE_IMAGES=$(os image list --private -f value -c ID | wc -l)
step "before: $BEFORE_VOLUMES volumes, $BEFORE_SNAPSHOTS snapshots, $BEFORE_IMAGES private images"

# ------------------------------------------------------------- 1. the image ---
"$PY" - "$WORK/orig.raw" "$IMAGE_MB" "$VOLUME_GB" "$WORK/expected-volume.md5" <<'PY'
import hashlib, random, sys
path, mb, gb, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
data = random.Random("s2d-cinder-smoke").randbytes(mb << 20)
open(path, "wb").write(data)
# the volume's bytes: the image, then zeros to the volume's size
h = hashlib.md5(data)
zeros = bytes(1 << 20)
for _ in range((gb << 10) - mb):
    h.update(zeros)
open(out, "w").write(h.hexdigest())
PY
ORIG_MD5=$(md5sum < "$WORK/orig.raw" | cut -d' ' -f1)
EXPECTED_MD5=$(cat "$WORK/expected-volume.md5")
IMG=$(os image create --disk-format raw --container-format bare --private \
  --file "$WORK/orig.raw" -f value -c id "$TAG-image")
IMAGES+=("$IMG")
[ "$(os image show -f value -c checksum "$IMG")" = "$ORIG_MD5" ] || fail "the image's checksum is not $ORIG_MD5"
step "1. raw image, $IMAGE_MB MiB, md5 $ORIG_MD5"

# ------------------------------------------------------ 2. volume from image ---
VOL1=$(os volume create --image "$IMG" --size $VOLUME_GB -f value -c id "$TAG-root")
VOLUMES+=("$VOL1")
wait_for volume "$VOL1" available
os volume show -f json "$VOL1" > "$WORK/vol1.json"
[ "$(json 'd["bootable"]' < "$WORK/vol1.json")" = "true" ] || fail "a volume from an image is not bootable"
[ "$(json 'd["volume_image_metadata"]["image_id"]' < "$WORK/vol1.json")" = "$IMG" ] ||
  fail "volume_image_metadata does not name the image"
echo "cinder-smoke:   type $(json 'd["type"]' < "$WORK/vol1.json"), image metadata keys: $(json 'sorted(d["volume_image_metadata"])' < "$WORK/vol1.json")"
step "2. volume from the image ($VOLUME_GB GiB), available"

# --------------------------------------------------------------- 3. snapshot ---
SNAP1=$(os volume snapshot create --volume "$VOL1" -f value -c id "$TAG-snap")
SNAPSHOTS+=("$SNAP1")
wait_for "volume snapshot" "$SNAP1" available
step "3. snapshot of the volume, available"

# ------------------------------------------------- 4. volume from snapshot ---
VOL2=$(os volume create --snapshot "$SNAP1" --size $VOLUME_GB -f value -c id "$TAG-copy")
VOLUMES+=("$VOL2")
wait_for volume "$VOL2" available
step "4. volume from the snapshot, available"

# --------------------------------------------------------- 5. upload-to-image ---
os image create --volume "$VOL2" --disk-format raw --container-format bare -f json \
  "$TAG-upload" > "$WORK/upload.json"
IMG2=$(json 'd["image_id"]' < "$WORK/upload.json")
IMAGES+=("$IMG2")
wait_for image "$IMG2" active
wait_for volume "$VOL2" available
step "5. upload-to-image of the copy, image active"

# ------------------------------------------------------ 6. download, compare ---
os image show -f json "$IMG2" > "$WORK/img2.json"
SIZE=$(json 'd["size"]' < "$WORK/img2.json")
[ "$SIZE" = $((VOLUME_GB << 30)) ] || fail "the uploaded image has $SIZE bytes, not the volume's $((VOLUME_GB << 30))"
[ "$(json 'd["checksum"]' < "$WORK/img2.json")" = "$EXPECTED_MD5" ] || fail "Glance's checksum of the upload is not $EXPECTED_MD5"
os image save --file "$WORK/down.raw" "$IMG2"
GOT=$(md5sum < "$WORK/down.raw" | cut -d' ' -f1)
HEAD=$(head -c $((IMAGE_MB << 20)) "$WORK/down.raw" | md5sum | cut -d' ' -f1)
rm -f "$WORK/down.raw"
[ "$HEAD" = "$ORIG_MD5" ] || fail "the first $IMAGE_MB MiB of the upload: md5 $HEAD, not $ORIG_MD5"
[ "$GOT" = "$EXPECTED_MD5" ] || fail "the upload's md5 is $GOT, not $EXPECTED_MD5 (image + zeros)"
echo "cinder-smoke:   upload: $SIZE bytes, md5 $GOT (= original $IMAGE_MB MiB + zeros), first $IMAGE_MB MiB md5 $HEAD"
echo "cinder-smoke:   upload image properties: $(json '{k: v for k, v in d.get("properties", {}).items() if not k.startswith("os_hash")}' < "$WORK/img2.json")"
step "6. download of the upload, md5 matches"

# --------------------------------------------- 6b. upload-to-image as qcow2 ---
os image create --volume "$VOL2" --disk-format qcow2 --container-format bare -f json \
  "$TAG-upload-qcow2" > "$WORK/upload-qcow2.json"
IMG3=$(json 'd["image_id"]' < "$WORK/upload-qcow2.json")
IMAGES+=("$IMG3")
wait_for image "$IMG3" active
wait_for volume "$VOL2" available
os image save --file "$WORK/down.qcow2" "$IMG3"
[ "$(qemu-img info --output=json "$WORK/down.qcow2" | json 'd["format"]')" = qcow2 ] || fail "the qcow2 upload is not a qcow2"
QSIZE=$(stat -c %s "$WORK/down.qcow2")
qemu-img convert -f qcow2 -O raw "$WORK/down.qcow2" "$WORK/down.raw"
rm -f "$WORK/down.qcow2"
GOT=$(md5sum < "$WORK/down.raw" | cut -d' ' -f1)
rm -f "$WORK/down.raw"
[ "$GOT" = "$EXPECTED_MD5" ] || fail "the qcow2 upload converted back to raw: md5 $GOT, not $EXPECTED_MD5"
echo "cinder-smoke:   qcow2 upload: $QSIZE bytes; back to raw: md5 $GOT"
step "6b. upload-to-image as qcow2, converted back: md5 matches"

# ---------------------------------------------------- 7. boot from volume ---
NET=$(os network show -f value -c id private)
os server create --flavor m1.tiny --volume "$VOL1" \
  --block-device "uuid=$VOL2,source_type=volume,destination_type=volume,boot_index=-1,delete_on_termination=false" \
  --network "$NET" --wait -f value -c id "$TAG-server" > "$WORK/server.id"
# (--wait's progress shares stdout with the value: the id is the last line)
SERVER=$(tail -n 1 "$WORK/server.id")
os server show -f json "$SERVER" > "$WORK/server.json"
[ "$(json 'd["status"]' < "$WORK/server.json")" = ACTIVE ] || fail "the server is not ACTIVE"
ATTACHED=$(json '" ".join(sorted(v["id"] for v in d["volumes_attached"]))' < "$WORK/server.json")
[ "$ATTACHED" = "$(printf '%s\n' "$VOL1" "$VOL2" | sort | tr '\n' ' ' | sed 's/ $//')" ] ||
  fail "server show lists volumes [$ATTACHED], not $VOL1 and $VOL2"
for v in "$VOL1" "$VOL2"; do
  [ "$(os volume show -f value -c status "$v")" = in-use ] || fail "volume $v is not in-use"
done
echo "cinder-smoke:   volumes_attached: $(json 'd["volumes_attached"]' < "$WORK/server.json"), image: $(json 'd["image"]' < "$WORK/server.json")"
step "7. server booted from the volume + data volume, ACTIVE"

# ------------------------------------------ 7b. snapshots of an in-use volume ---
# The raw API (as s2d calls it): below microversion 3.66 Cinder refuses to snapshot an
# in-use volume without "force": true; from 3.66 on it needs no force. (The CLI's
# `volume snapshot create --force` of python-openstackclient 10.5 got the same 400 here: it
# leaves force out when the server supports 3.66, and the request went at an older version.)
"$PY" - "$CLOUD" "$VOL2" "$TAG" > "$WORK/inuse.out" <<'PY'
import json, sys, openstack
conn = openstack.connect(cloud=sys.argv[1])
vol, tag = sys.argv[2], sys.argv[3]
for name, version, force in (("noforce", "3.0", None), ("force", "3.0", True),
                             ("366", "3.66", None)):
    snap = {"volume_id": vol, "name": "%s-inuse-%s" % (tag, name)}
    if force is not None:
        snap["force"] = force
    r = conn.block_storage.post("/snapshots", json={"snapshot": snap},
                                headers={"OpenStack-API-Version": "volume " + version},
                                raise_exc=False)
    body = r.json() if r.content else {}
    print(name, version, r.status_code, body.get("snapshot", {}).get("id") or "-",
          json.dumps(body.get("badRequest", {}).get("message", "")))
PY
while read -r name version code id msg <&3; do
  echo "cinder-smoke:   in-use volume, microversion $version, $name: HTTP $code $id $msg"
  [ "$id" != - ] && SNAPSHOTS+=("$id")
  case $name:$code in noforce:400 | force:202 | 366:202) ;; *) fail "in-use snapshot $name at $version: HTTP $code" ;; esac
  [ "$code" = 202 ] && wait_for "volume snapshot" "$id" available
done 3< "$WORK/inuse.out"
step "7b. in-use volume: 400 at 3.0 without force; force and 3.66 snapshots available"

# ------------------------------------------- 8. snapshot of the server ---
SNAPIMG=$(os server image create --name "$TAG-server-snap" -f value -c id "$SERVER" | tail -n 1)
IMAGES+=("$SNAPIMG")
wait_for image "$SNAPIMG" active
os image show -f json "$SNAPIMG" > "$WORK/snapimg.json"
"$PY" - "$WORK/snapimg.json" "$WORK/bdm-snapshots" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
props = d.get("properties", {})
print("cinder-smoke:   server image: status %s, size %s, disk_format %s, container_format %s"
      % (d["status"], d["size"], d["disk_format"], d["container_format"]))
for k in sorted(props):
    if k not in ("os_hash_algo", "os_hash_value"):
        print("cinder-smoke:     %s = %s" % (k, props[k]))
bdm = props["block_device_mapping"]
bdm = json.loads(bdm) if isinstance(bdm, str) else bdm
assert d["size"] in (0, None), "a volume-backed server's image has %s bytes" % d["size"]
assert str(props.get("bdm_v2")).lower() == "true", "bdm_v2 is %r" % props.get("bdm_v2")
assert len(bdm) == 2, "block_device_mapping has %d entries" % len(bdm)
for m in bdm:
    assert m["source_type"] == "snapshot" and m["destination_type"] == "volume", m
    assert m.get("snapshot_id"), m
assert sorted(m["boot_index"] if m["boot_index"] is not None else -1 for m in bdm)[-1] == 0, bdm
open(sys.argv[2], "w").write("\n".join(m["snapshot_id"] for m in bdm) + "\n")
PY
mapfile -t BDM_SNAPS < "$WORK/bdm-snapshots"
SNAPSHOTS+=("${BDM_SNAPS[@]}")
for s in "${BDM_SNAPS[@]}"; do wait_for "volume snapshot" "$s" available; done
echo "cinder-smoke:   Nova's volume snapshots: $(for s in "${BDM_SNAPS[@]}"; do os volume snapshot show -f value -c name -c volume_id -c size "$s" | tr '\n' ' '; echo -n '; '; done)"
CODE=$("$PY" - "$CLOUD" "$SNAPIMG" <<'PY'
import sys, openstack
conn = openstack.connect(cloud=sys.argv[1])
r = conn.image.get("/images/%s/file" % sys.argv[2])
print(r.status_code, len(r.content))
PY
)
echo "cinder-smoke:   download of the server image: HTTP status, bytes = $CODE"
step "8. server image of the volume-backed server, its snapshots available"

# ---------------------------------------------------------------- 9. clean-up ---
os server delete --wait "$SERVER"
SERVER=""
for v in "$VOL1" "$VOL2"; do wait_for volume "$v" available; done
os image delete "${IMAGES[@]}"
IMAGES=()
os volume snapshot delete "${SNAPSHOTS[@]}"
for s in "${SNAPSHOTS[@]}"; do
  for i in $(seq $((TIMEOUT * 2))); do os volume snapshot show "$s" > /dev/null 2>&1 || break; sleep 0.5; done
done
SNAPSHOTS=()
os volume delete "${VOLUMES[@]}"
for v in "${VOLUMES[@]}"; do
  for i in $(seq $((TIMEOUT * 2))); do os volume show "$v" > /dev/null 2>&1 || break; sleep 0.5; done
done
VOLUMES=()
AFTER_VOLUMES=$(count volume list)
AFTER_SNAPSHOTS=$(count volume snapshot list)
AFTER_IMAGES=$(os image list --private -f value -c ID | wc -l)
[ "$AFTER_VOLUMES" = "$BEFORE_VOLUMES" ] || fail "$AFTER_VOLUMES volumes left, $BEFORE_VOLUMES before"
[ "$AFTER_SNAPSHOTS" = "$BEFORE_SNAPSHOTS" ] || fail "$AFTER_SNAPSHOTS snapshots left, $BEFORE_SNAPSHOTS before"
[ "$AFTER_IMAGES" = "$BEFORE_IMAGES" ] || fail "$AFTER_IMAGES private images left, $BEFORE_IMAGES before"
if os volume list -f value -c Name | grep -q "^$TAG"; then fail "a $TAG volume is left"; fi
step "9. clean-up: server, images, snapshots, volumes gone"

echo "cinder-smoke: timings"
printf '  %s\n' "${TIMINGS[@]}"
printf '  %-58s %7.1f s\n' "total" "$(awk -v a="$T0" -v b="$(now)" 'BEGIN { print b - a }')"
echo "cinder-smoke: all checks passed"
