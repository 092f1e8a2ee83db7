/// CRC-32C (Castagnoli, polynomial 0x1EDC6F41, reflected), the checksum of every log record.
///
/// Hand-written because none of the project's dependencies offers CRC-32C (zlib-style CRC-32 is
/// a different polynomial with weaker error detection for this use). Slicing-by-8 tables: about
/// 1-2 GB/s in software, far above the disk's write rate, so the checksum never limits the log.
public enum CRC32C {
  private static let tables: [[UInt32]] = {
    var tables = Array(repeating: Array(repeating: UInt32(0), count: 256), count: 8)
    for byte in 0..<256 {
      var crc = UInt32(byte)
      for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
      tables[0][byte] = crc
    }
    for byte in 0..<256 {
      var crc = tables[0][byte]
      for slice in 1..<8 {
        crc = tables[0][Int(crc & 0xFF)] ^ (crc >> 8)
        tables[slice][byte] = crc
      }
    }
    return tables
  }()

  /// The checksum of `bytes`, continuing from `crc` (pass the result of a previous call to
  /// checksum data in pieces; start with 0).
  public static func checksum(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
    var crc = ~crc
    var index = 0
    let count = bytes.count
    tables.withUnsafeBufferPointer { tables in
      let t0 = tables[0], t1 = tables[1], t2 = tables[2], t3 = tables[3]
      let t4 = tables[4], t5 = tables[5], t6 = tables[6], t7 = tables[7]
      while count - index >= 8 {
        let low = crc ^ (UInt32(bytes[index]) | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2]) << 16
          | UInt32(bytes[index + 3]) << 24)
        crc =
          t7[Int(low & 0xFF)] ^ t6[Int(low >> 8 & 0xFF)] ^ t5[Int(low >> 16 & 0xFF)] ^ t4[Int(low >> 24)]
          ^ t3[Int(bytes[index + 4])] ^ t2[Int(bytes[index + 5])] ^ t1[Int(bytes[index + 6])]
          ^ t0[Int(bytes[index + 7])]
        index += 8
      }
      while index < count {
        crc = t0[Int((crc ^ UInt32(bytes[index])) & 0xFF)] ^ (crc >> 8)
        index += 1
      }
    }
    return ~crc
  }

  /// The checksum of a byte array.
  public static func checksum(_ bytes: [UInt8]) -> UInt32 {
    bytes.withUnsafeBytes { checksum($0) }
  }
}
