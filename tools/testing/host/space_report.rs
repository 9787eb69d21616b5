// SPDX-License-Identifier: GPL-2.0
//! BTRFS_IOC_SPACE_INFO's grouping (`BlockGroups::space_report`) and the
//! global reserve size, against C btrfs's order and numbers: types data,
//! system, metadata, mixed; profiles SINGLE, RAID0, RAID1, DUP, RAID10...;
//! the reserve of a fresh mkfs image with 16 KiB nodes is 5.5 MiB, as
//! `btrfs filesystem df` on C btrfs shows.

use rbtrfs_core::block_group::{global_rsv_size, BlockGroup, BlockGroups, SpaceReport};
use rbtrfs_core::volumes::block_group as bg;

fn groups(list: &[(u64, u64, u64, u64)]) -> BlockGroups {
    let mut g = BlockGroups::new();
    for &(start, len, flags, used) in list {
        g.insert(BlockGroup::new(start, len, flags, used, 256)).unwrap();
    }
    g
}

#[test]
fn grouped_in_c_order() {
    let g = groups(&[
        (1 << 20, 8 << 20, bg::METADATA | bg::DUP, 100),
        (9 << 20, 8 << 20, bg::SYSTEM | bg::DUP, 16384),
        (17 << 20, 8 << 20, bg::DATA, 4096),
        (25 << 20, 64 << 20, bg::DATA, 8192),
        (89 << 20, 8 << 20, bg::METADATA, 7),
        (97 << 20, 8 << 20, bg::DATA | bg::RAID1, 1),
        (105 << 20, 8 << 20, bg::DATA | bg::METADATA, 3),
    ]);
    let r: Vec<SpaceReport> = g.space_report().unwrap().iter().copied().collect();
    let want = [
        SpaceReport { flags: bg::DATA, total_bytes: 72 << 20, used_bytes: 12288 },
        SpaceReport { flags: bg::DATA | bg::RAID1, total_bytes: 8 << 20, used_bytes: 1 },
        SpaceReport { flags: bg::SYSTEM | bg::DUP, total_bytes: 8 << 20, used_bytes: 16384 },
        SpaceReport { flags: bg::METADATA, total_bytes: 8 << 20, used_bytes: 7 },
        SpaceReport { flags: bg::METADATA | bg::DUP, total_bytes: 8 << 20, used_bytes: 100 },
        SpaceReport { flags: bg::DATA | bg::METADATA, total_bytes: 8 << 20, used_bytes: 3 },
    ];
    assert_eq!(r, want);
    assert!(groups(&[]).space_report().unwrap().is_empty());
}

#[test]
fn global_reserve_as_c() {
    // mkfs defaults: extent, csum and free space trees; 16 KiB nodes.
    assert_eq!(global_rsv_size(16384, 3 * 16384, 3, true), 5632 << 10);
    // Without the free space tree: fewer items, no doubling.
    assert_eq!(global_rsv_size(16384, 0, 2, false), 16384 * 16 * 9 + 16384 * 16 * 6);
    // Large trees: their size, at most 512 MiB.
    assert_eq!(global_rsv_size(16384, 100 << 20, 3, true), 100 << 20);
    assert_eq!(global_rsv_size(65536, 4 << 30, 3, true), 512 << 20);
}
