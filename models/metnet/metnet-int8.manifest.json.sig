{
 "format": "metsentry-model-sig-v1",
 "key_id": "d915bbad2ed31585",
 "manifest_sha256": "a307e29cbb38d42ca4a32b3ca91bb275def53a52a3dd87a4ac17a2052342bac3",
 "model_sha256": "154fb4fcd93b5fc91ea10e86a21b3e81c390413d0cb64ef8fd5340a6456512fc",
 "files": {
  "ref-input.f32": "c2bc817e373b51b99a4b1f616e717def6aa7a8473dd8456e66f891d80b2e4e83",
  "ref-int8.f32": "c4836e4aafacb0a35552ac009680a894bc60cb1ca7583f47e13c7f7570d66ade"
 },
 "signature": "dlSHquk4qA4rFPLv0Du5Gqs/lcZfAdvs4A/ZY1mciiP4WmJKTd2ibxqiHxOhidacrYtEipNS5XrjVsW3yXz1Bg=="
}
