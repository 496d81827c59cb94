#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| facematch::fuzzing::decode_image(data));
