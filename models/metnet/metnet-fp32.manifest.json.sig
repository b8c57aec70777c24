{
 "format": "metsentry-model-sig-v1",
 "key_id": "9d748fe480d1e3f6",
 "manifest_sha256": "4a7215cbea50731f133bfd44789ff3ee3b13858f78c7496c47631b94766a1f98",
 "model_sha256": "4bdfde26055aaca5b166b7a56ff523c8a7ce1e7924f6076b41b91e300aa15c71",
 "files": {
  "ref-fp32.f32": "afc6e04be3e6b6163f475b127fdd182211f09bf8d8b1c512a8673eb84e62bda1",
  "ref-input.f32": "dbad966648c989e75208dd9ecfc65b5a62849a4bfab53a37cc58ee9375cffd43"
 },
 "signature": "6GM9asQCNuiBuYX5tUyfhNyc71F+aXV6TNsAkwOsjti3yYJH2Eh3vLSTGwpiikVvEokra7iONOSslIcleLZoDQ=="
}
