{
 "format": "metsentry-model-sig-v1",
 "key_id": "d915bbad2ed31585",
 "manifest_sha256": "4e1324ea3e2f4f919113090294277e8883bca9f5668ef52032da5deae9b29f54",
 "model_sha256": "4bdfde26055aaca5b166b7a56ff523c8a7ce1e7924f6076b41b91e300aa15c71",
 "files": {
  "ref-fp32.f32": "afc6e04be3e6b6163f475b127fdd182211f09bf8d8b1c512a8673eb84e62bda1",
  "ref-input.f32": "dbad966648c989e75208dd9ecfc65b5a62849a4bfab53a37cc58ee9375cffd43"
 },
 "signature": "9iuDWUw4OqsOloNNS+c60+6I0fILVo3/gl51VZtTiL9dxAItuslrR/NokkKJ1FKOrtXFNBuqJi2qt7uIqaYdBQ=="
}
