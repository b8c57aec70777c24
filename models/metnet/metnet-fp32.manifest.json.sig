{
 "format": "metsentry-model-sig-v1",
 "key_id": "d915bbad2ed31585",
 "manifest_sha256": "ecff4842c9ca6a1324726a53bbd8b4eb563e46602e6488aa8e5bf066d0426083",
 "model_sha256": "78a5542ff27bbe2f110e8568c9e60b1ffb313f10b53c22c4ff3b7f50aec47ce2",
 "files": {
  "ref-fp32.f32": "a76451eb1c349b316670605e9d21689ecd50ee97e11dca6695aaff782454908c",
  "ref-input.f32": "c2bc817e373b51b99a4b1f616e717def6aa7a8473dd8456e66f891d80b2e4e83"
 },
 "signature": "zl+5LRfLBKbtqFYAJDx18CD6f2F4Rx4ofNLHrwQFW4uFTlMWsG/ZF9veLl+cdpYIn6n5KGFBwVMi3LgDzqPcDg=="
}
