//! The places and roads the live loop puts new convoys and incidents on: towns on Iraq's main
//! road corridors and the places between them.
//!
//! Pure data and the one helper that walks it (`Corridor::leg`). It must not build Features;
//! the generators that use it do.

use crate::model::Position;

/// A named place (approximate WGS84, after the gazetteer in DOMAIN.md).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Place {
    pub name: &'static str,
    pub at: Position,
}

const fn place(name: &'static str, lon: f64, lat: f64) -> Place {
    Place {
        name,
        at: [lon, lat],
    }
}

pub const BAGHDAD: Place = place("Baghdad", 44.366, 33.315);
pub const MOSUL: Place = place("Mosul", 43.119, 36.335);
pub const ERBIL: Place = place("Erbil", 44.009, 36.191);
pub const DOHUK: Place = place("Dohuk", 42.950, 36.867);
pub const KIRKUK: Place = place("Kirkuk", 44.392, 35.468);
pub const SULAYMANIYAH: Place = place("Sulaymaniyah", 45.437, 35.561);
pub const TIKRIT: Place = place("Tikrit", 43.678, 34.607);
pub const SAMARRA: Place = place("Samarra", 43.886, 34.196);
pub const RAMADI: Place = place("Ramadi", 43.299, 33.426);
pub const FALLUJAH: Place = place("Fallujah", 43.783, 33.350);
pub const HIT: Place = place("Hit", 42.825, 33.642);
pub const HADITHA: Place = place("Haditha", 42.378, 34.139);
pub const AL_QAIM: Place = place("Al-Qaim", 41.094, 34.370);
pub const RUTBA: Place = place("Rutba", 40.285, 33.038);
pub const BAQUBAH: Place = place("Baqubah", 44.644, 33.747);
pub const TAL_AFAR: Place = place("Tal Afar", 42.449, 36.374);
pub const SINJAR: Place = place("Sinjar", 41.877, 36.321);
pub const QAYYARAH: Place = place("Qayyarah", 43.290, 35.800);
pub const MAKHMOUR: Place = place("Makhmour", 43.580, 35.776);
pub const HAWIJA: Place = place("Hawija", 43.757, 35.326);
pub const HAMMAM_AL_ALIL: Place = place("Hammam al-Alil", 43.260, 36.160);
// Intermediate places on the roads between the gazetteer's towns.
pub const KALAK: Place = place("Kalak", 43.745, 36.268);
pub const KHAZER: Place = place("Khazer", 43.540, 36.300);
pub const BARTELLA: Place = place("Bartella", 43.380, 36.352);
pub const FAIDA: Place = place("Faida", 43.030, 36.760);
pub const TEL_SKUF: Place = place("Tel Skuf", 43.070, 36.590);
pub const TEL_KAYF: Place = place("Tel Kayf", 43.120, 36.490);
pub const TAJI: Place = place("Taji", 44.280, 33.520);
pub const BALAD: Place = place("Balad", 44.150, 34.010);
pub const BAIJI: Place = place("Baiji", 43.490, 34.930);
pub const SHIRQAT: Place = place("Shirqat", 43.230, 35.510);
pub const MAKTAB_KHALID: Place = place("Maktab Khalid", 44.280, 35.400);
pub const RIYADH: Place = place("Riyadh", 44.000, 35.360);
pub const FATHA: Place = place("Fatha", 43.570, 35.060);
pub const ABU_GHRAIB: Place = place("Abu Ghraib", 44.070, 33.290);
pub const BAGHDADI: Place = place("Baghdadi", 42.550, 33.870);
pub const ANAH: Place = place("Anah", 41.983, 34.367);
pub const KILO_35: Place = place("Kilo 35", 42.930, 33.330);
pub const KILO_160: Place = place("Kilo 160", 41.600, 33.150);
pub const BADUSH: Place = place("Badush", 42.990, 36.380);
pub const KUSHTAPA: Place = place("Kushtapa", 44.030, 36.010);
pub const DEBAGA: Place = place("Debaga", 43.840, 35.890);
pub const ALTUN_KUPRI: Place = place("Altun Kupri", 44.135, 35.760);
pub const CHAMCHAMAL: Place = place("Chamchamal", 44.830, 35.530);
pub const KHAN_BANI_SAAD: Place = place("Khan Bani Saad", 44.540, 33.570);

/// A road between towns, as the places it passes in order.
#[derive(Clone, Copy, Debug)]
pub struct Corridor {
    pub places: &'static [Place],
    /// In or next to the Kurdistan Region, where Peshmerga hold checkpoints.
    pub kri: bool,
    /// Who is usually asked to acknowledge a movement on it.
    pub ackers: &'static [&'static str],
}

pub const ERBIL_MOSUL: Corridor = Corridor {
    places: &[ERBIL, KALAK, KHAZER, BARTELLA, MOSUL],
    kri: true,
    ackers: &["PESHMERGA", "IQ-ARMY"],
};
pub const DOHUK_MOSUL: Corridor = Corridor {
    places: &[DOHUK, FAIDA, TEL_SKUF, TEL_KAYF, MOSUL],
    kri: true,
    ackers: &["PESHMERGA", "IQ-ARMY"],
};
pub const BAGHDAD_MOSUL: Corridor = Corridor {
    places: &[
        BAGHDAD,
        TAJI,
        BALAD,
        SAMARRA,
        TIKRIT,
        BAIJI,
        SHIRQAT,
        QAYYARAH,
        HAMMAM_AL_ALIL,
        MOSUL,
    ],
    kri: false,
    ackers: &["IQ-ARMY", "IQ-POLICE"],
};
pub const KIRKUK_TIKRIT: Corridor = Corridor {
    places: &[KIRKUK, MAKTAB_KHALID, RIYADH, HAWIJA, FATHA, BAIJI, TIKRIT],
    kri: false,
    ackers: &["IQ-ARMY"],
};
pub const ANBAR: Corridor = Corridor {
    places: &[
        BAGHDAD, ABU_GHRAIB, FALLUJAH, RAMADI, HIT, BAGHDADI, HADITHA, ANAH, AL_QAIM,
    ],
    kri: false,
    ackers: &["IQ-ARMY", "IQ-POLICE"],
};
pub const RAMADI_RUTBA: Corridor = Corridor {
    places: &[RAMADI, KILO_35, KILO_160, RUTBA],
    kri: false,
    ackers: &["IQ-ARMY"],
};
pub const MOSUL_SINJAR: Corridor = Corridor {
    places: &[MOSUL, BADUSH, TAL_AFAR, SINJAR],
    kri: false,
    ackers: &["IQ-ARMY"],
};
pub const ERBIL_MAKHMOUR: Corridor = Corridor {
    places: &[ERBIL, KUSHTAPA, DEBAGA, MAKHMOUR],
    kri: true,
    ackers: &["PESHMERGA"],
};
pub const ERBIL_KIRKUK: Corridor = Corridor {
    places: &[ERBIL, ALTUN_KUPRI, KIRKUK],
    kri: true,
    ackers: &["PESHMERGA", "IQ-ARMY"],
};
pub const KIRKUK_SULAYMANIYAH: Corridor = Corridor {
    places: &[KIRKUK, CHAMCHAMAL, SULAYMANIYAH],
    kri: true,
    ackers: &["PESHMERGA"],
};
pub const BAGHDAD_BAQUBAH: Corridor = Corridor {
    places: &[BAGHDAD, KHAN_BANI_SAAD, BAQUBAH],
    kri: false,
    ackers: &["IQ-ARMY", "IQ-POLICE"],
};
/// The roads incidents and new convoys are placed on.
pub const CORRIDORS: &[Corridor] = &[
    ERBIL_MOSUL,
    DOHUK_MOSUL,
    BAGHDAD_MOSUL,
    KIRKUK_TIKRIT,
    ANBAR,
    RAMADI_RUTBA,
    MOSUL_SINJAR,
    ERBIL_MAKHMOUR,
    ERBIL_KIRKUK,
    KIRKUK_SULAYMANIYAH,
    BAGHDAD_BAQUBAH,
];
