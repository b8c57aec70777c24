{
 "format": "metsentry-model-sig-v1",
 "key_id": "d86d9fdbf425729a",
 "manifest_sha256": "a7048a085eca65995690a7f81ac0bd7a27fabc97f23bf91aaeb80709dc34c3c8",
 "model_sha256": "4bdfde26055aaca5b166b7a56ff523c8a7ce1e7924f6076b41b91e300aa15c71",
 "files": {
  "ref-fp32.f32": "afc6e04be3e6b6163f475b127fdd182211f09bf8d8b1c512a8673eb84e62bda1",
  "ref-input.f32": "dbad966648c989e75208dd9ecfc65b5a62849a4bfab53a37cc58ee9375cffd43"
 },
 "signature": "oweoLJcHyloTVEovj9+v6YdYfvnVmXR6GhecTpFIUNcEjzAgUwQKFgdsHI685YIOqvWcFDm/9G22Ag6HqIiNCQ=="
}
