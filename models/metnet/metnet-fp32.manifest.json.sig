{
 "format": "metsentry-model-sig-v1",
 "key_id": "d915bbad2ed31585",
 "manifest_sha256": "461d52dce4d01cd317b18da664fc2dd0ea99cdf8744167a5311abc27c24bbb2c",
 "model_sha256": "78a5542ff27bbe2f110e8568c9e60b1ffb313f10b53c22c4ff3b7f50aec47ce2",
 "files": {
  "ref-fp32.f32": "a76451eb1c349b316670605e9d21689ecd50ee97e11dca6695aaff782454908c",
  "ref-input.f32": "c2bc817e373b51b99a4b1f616e717def6aa7a8473dd8456e66f891d80b2e4e83"
 },
 "signature": "RKbjhhqMrXqdMi+2DyxG9ih70KYnTH+wY4fTSfkk933+jc+Wyqqj49Hmaj++dwUMu85VPrxIBeOWzXGWkjsyBA=="
}
