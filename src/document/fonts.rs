//! The fonts embedded in the binary for PDF documents: Noto Sans (Latin) and Noto Naskh Arabic,
//! regular and bold, from `reference/fonts/` (SIL Open Font License 1.1, see its README).

/// Family names as typst knows them, in fallback order per language.
pub const LATIN: &str = "Noto Sans";
pub const ARABIC: &str = "Noto Naskh Arabic";

/// The font files, each a TrueType font.
pub static FILES: [&[u8]; 4] = [
    include_bytes!("../../reference/fonts/NotoSans-Regular.ttf"),
    include_bytes!("../../reference/fonts/NotoSans-Bold.ttf"),
    include_bytes!("../../reference/fonts/NotoNaskhArabic-Regular.ttf"),
    include_bytes!("../../reference/fonts/NotoNaskhArabic-Bold.ttf"),
];
