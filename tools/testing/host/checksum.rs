// SPDX-License-Identifier: GPL-2.0
//! Checksums against published vectors and against what mkfs.btrfs wrote.

mod common;

use rbtrfs_core::checksum::{crc32c, name_hash, xxhash64, CsumType};

#[test]
fn crc32c_known_vectors() {
    assert_eq!(crc32c(b""), 0);
    assert_eq!(crc32c(b"123456789"), 0xE306_9283);
    assert_eq!(crc32c(&[0u8; 32]), 0x8A91_36AA);
    assert_eq!(crc32c(&[0xffu8; 32]), 0x62A8_AB43);
    let inc: Vec<u8> = (0u8..32).collect();
    assert_eq!(crc32c(&inc), 0x46DD_794E);
}

#[test]
fn crc32c_slicing_matches_bytewise_for_every_length() {
    fn slow(data: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in data {
            crc ^= b as u32;
            for _ in 0..8 {
                crc = if crc & 1 != 0 { (crc >> 1) ^ 0x82f6_3b78 } else { crc >> 1 };
            }
        }
        !crc
    }
    let data: Vec<u8> = (0..300u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    for len in 0..data.len() {
        for start in 0..4.min(len + 1) {
            assert_eq!(crc32c(&data[start..len]), slow(&data[start..len]), "len {} start {}", len, start);
        }
    }
}

#[test]
fn xxhash64_known_vectors() {
    assert_eq!(xxhash64(b"", 0), 0xEF46_DB37_51D8_E999);
    assert_eq!(xxhash64(b"a", 0), 0xD24E_C4F1_A98C_6E5B);
    assert_eq!(xxhash64(b"abc", 0), 0x44BC_2CF5_AD77_0999);
    assert_eq!(
        xxhash64(b"Nobody inspects the spammish repetition", 0),
        0xFBCE_A83C_8A37_8BF1
    );
}

#[test]
fn name_hash_matches_dir_items_mkfs_wrote() {
    let s = common::Scratch::new("namehash");
    let root = s.0.join("root");
    std::fs::create_dir(&root).unwrap();
    let names = ["a", "hello.txt", "Grüße", &"n".repeat(255), "with space", "x.y.z"];
    for n in names {
        std::fs::write(root.join(n), n.as_bytes()).unwrap();
    }
    let img = common::mkfs(&s.0, "img", 128 << 20, &["--rootdir", root.to_str().unwrap()]);
    let dump = common::btrfs(&["inspect-internal", "dump-tree", "-t", "fs", img.to_str().unwrap()]);
    // "item N key (256 DIR_ITEM HASH) ..." is followed a few lines later by "name: NAME".
    let mut checked = 0;
    let lines: Vec<&str> = dump.lines().collect();
    for (i, l) in lines.iter().enumerate() {
        let Some(rest) = l.split("key (256 DIR_ITEM ").nth(1) else { continue };
        let hash: u64 = rest.split(')').next().unwrap().parse().unwrap();
        let name = lines[i + 1..].iter().find_map(|l| l.trim().strip_prefix("name: ")).unwrap();
        assert_eq!(u64::from(name_hash(name.as_bytes())), hash, "name {:?}", name);
        checked += 1;
    }
    assert_eq!(checked, names.len());
}

#[test]
fn csum_type_sizes_and_names() {
    assert_eq!(CsumType::from_disk(0), Some(CsumType::Crc32c));
    assert_eq!(CsumType::from_disk(1).map(|t| t.size()), Some(8));
    assert_eq!(CsumType::from_disk(2).map(|t| t.name()), Some("sha256"));
    assert_eq!(CsumType::from_disk(3).map(|t| t.supported()), Some(false));
    assert_eq!(CsumType::from_disk(4), None);
}
