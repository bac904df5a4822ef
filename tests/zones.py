"""Time zones the tables use: both DST hemispheres and the extremes of UTC-11 and UTC+14."""

from zoneinfo import ZoneInfo

AMS = ZoneInfo("Europe/Amsterdam")
NY = ZoneInfo("America/New_York")
KIR = ZoneInfo("Pacific/Kiritimati")
PPG = ZoneInfo("Pacific/Pago_Pago")
TYO = ZoneInfo("Asia/Tokyo")
SAO = ZoneInfo("America/Sao_Paulo")
