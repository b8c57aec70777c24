{
 "format": "metsentry-model-sig-v1",
 "key_id": "900679c4ca9b59a7",
 "manifest_sha256": "a479a4f9c41152ff3c013da5ecbb0a0a592fa9fa888d43473e4e6a5e5c5bcab8",
 "model_sha256": "4bdfde26055aaca5b166b7a56ff523c8a7ce1e7924f6076b41b91e300aa15c71",
 "files": {
  "ref-fp32.f32": "afc6e04be3e6b6163f475b127fdd182211f09bf8d8b1c512a8673eb84e62bda1",
  "ref-input.f32": "dbad966648c989e75208dd9ecfc65b5a62849a4bfab53a37cc58ee9375cffd43"
 },
 "signature": "GM3OUiQ/NxVB6T51pW8e5IXbh2t04ncbfEDExUgwRVgrpqfHiF1NdvLDQNCrna4n/GnLrr86/kuuErFoHePtCQ=="
}
