{
 "format": "metsentry-model-sig-v1",
 "key_id": "d915bbad2ed31585",
 "manifest_sha256": "f1d002e4f3ca96423fac6370f6ab27992327f69d009bf0c2ee0353ce2f1576d7",
 "model_sha256": "154fb4fcd93b5fc91ea10e86a21b3e81c390413d0cb64ef8fd5340a6456512fc",
 "files": {
  "ref-input.f32": "c2bc817e373b51b99a4b1f616e717def6aa7a8473dd8456e66f891d80b2e4e83",
  "ref-int8.f32": "c4836e4aafacb0a35552ac009680a894bc60cb1ca7583f47e13c7f7570d66ade"
 },
 "signature": "8WyYbKmp0gtTYIFO9GXtbje2+NxcceqhwmwwtNTdVi0vXw6dCTxc9GCzr3yBOXaTWV6GHTvtacpql22nzPl7DA=="
}
