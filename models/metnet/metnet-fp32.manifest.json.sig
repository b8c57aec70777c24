{
 "format": "metsentry-model-sig-v1",
 "key_id": "b31ed49f23cb26c6",
 "manifest_sha256": "9d565caae32753b18ef6f05092c739fb3e42798b1dc092d21531d511c4a8c7da",
 "model_sha256": "4bdfde26055aaca5b166b7a56ff523c8a7ce1e7924f6076b41b91e300aa15c71",
 "files": {
  "ref-fp32.f32": "afc6e04be3e6b6163f475b127fdd182211f09bf8d8b1c512a8673eb84e62bda1",
  "ref-input.f32": "dbad966648c989e75208dd9ecfc65b5a62849a4bfab53a37cc58ee9375cffd43"
 },
 "signature": "B927k0EgJtZFyQq4r8OawHk6+cE+V7tusi2nZHBnAG2wUy8uAFvpQxomf7FIU3ScJ8CPXXzLi6ovgx3PsFlACQ=="
}
