"""User-facing wording of the assessment report: Vietnamese as seed 003 words it, and English.

Keys are English identifiers; values are labels. Only this module (and the connection-status
labels of streams/health) hold Vietnamese text.
"""

from __future__ import annotations

LANGS: tuple[str, ...] = ("vi", "en")

LABELS: dict[str, dict[str, str]] = {
    "vi": {
        "title": "KẾT QUẢ KHẢO SÁT, GIÁM SÁT, ĐO LƯỜNG CHẤT LƯỢNG CUNG CẤP DỊCH VỤ CÔNG TRỰC TUYẾN",
        "period": "Kỳ đánh giá",
        "computed": "Tính đến",
        "scoring_version": "Phiên bản bộ tiêu chí",
        "part_results": "I. KẾT QUẢ ĐÁNH GIÁ",
        "ministry.section": "1. Bộ, cơ quan ngang bộ, cơ quan thuộc Chính phủ",
        "province.section": "2. Địa phương",
        "ministry.average": "a) Điểm trung bình đối với khối bộ, ngành: {score} điểm, trong đó:",
        "province.average": "a) Điểm trung bình đối với khối địa phương: {score} điểm, trong đó:",
        "level_line": "- Mức độ {level}: {count}/{total} ({share}%)",
        "level": "Mức độ {level}",
        "ministry.figure": (
            "Hình 1. Tỷ lệ mức độ xếp hạng đánh giá theo bộ, cơ quan ngang bộ, "
            "cơ quan thuộc Chính phủ"
        ),
        "province.figure": "Hình 2. Tỷ lệ mức độ xếp hạng đánh giá theo địa phương",
        "ministry.ranking": (
            "b) Xếp hạng đánh giá theo bộ, cơ quan ngang bộ, cơ quan thuộc Chính phủ"
        ),
        "province.ranking": "b) Xếp hạng đánh giá theo địa phương",
        "rank": "Xếp hạng",
        "ministry.unit": "Bộ ngành",
        "province.unit": "Tỉnh, thành phố",
        "level_col": "Mức độ",
        "vendor": "Doanh nghiệp",
        "score": "Điểm",
        "ministry.table": (
            "Bảng 1. Kết quả đánh giá Hệ thống thông tin giải quyết TTHC các bộ, ngành"
        ),
        "province.table": (
            "Bảng 2. Kết quả đánh giá Hệ thống thông tin giải quyết TTHC các địa phương"
        ),
        "no_data": "Không có hồ sơ trong kỳ",
        "part_detail": "II. KẾT QUẢ CHI TIẾT",
        "indicators": "Các chỉ số theo đơn vị",
        "distribution": "Phân bố các chỉ số",
        "trend": "Tỷ lệ hồ sơ trực tuyến và trực tuyến từ xa theo tháng (mục tiêu 50%)",
        "targets": "Mục tiêu",
        "target.remote_rate": "Hồ sơ trực tuyến từ xa ≥ {value}%",
        "target.province_online_procedures": "TTHC cung cấp trực tuyến ≥ {value}%",
        "target.province_fully_online_procedures": "DVCTT toàn trình ≥ {value}%",
        "met": "Đạt",
        "not_met": "Chưa đạt",
        "unknown": "—",
        "met_count": "{met}/{total} đơn vị đạt",
        "compare": "So sánh với kỳ {other}",
        "moved_up": "Lên mức",
        "moved_down": "Xuống mức",
        "change": "Thay đổi",
        "unit": "Đơn vị",
        "appendix": "PHỤ LỤC. HIỆN TRẠNG KẾT NỐI VỚI HỆ THỐNG EMC",
        "stt": "STT",
        "status": "Hiện trạng kết nối với Hệ thống EMC",
        "reason": "Lý do",
        "footnote": (
            "(*) Đơn vị chưa kết nối toàn diện với Hệ thống EMC trong một phần của kỳ đánh giá: "
            "kết quả xếp hạng cần được xem xét cùng hiện trạng kết nối."
        ),
        "merged": "Số liệu của đơn vị đã sáp nhập, hợp nhất được tính cho đơn vị kế thừa: ",
        "received": "Hồ sơ tiếp nhận",
        "online_rate": "Tỷ lệ trực tuyến",
        "remote_rate": "Tỷ lệ trực tuyến từ xa",
        "via_national_portal_rate": "Tỷ lệ qua Cổng DVC quốc gia",
        "online_payment_rate": "Tỷ lệ thanh toán trực tuyến",
        "on_time_rate": "Tỷ lệ đúng hạn",
        "avg_processing_s": "Thời gian xử lý trung bình (giờ)",
        "fully_online_rate": "Tỷ lệ toàn trình",
        "digitisation_rate": "Tỷ lệ số hóa",
        "satisfaction_rate": "Tỷ lệ hài lòng",
        "month": "Tháng",
    },
    "en": {
        "title": "SURVEY, MONITORING AND MEASUREMENT OF ONLINE PUBLIC SERVICE QUALITY",
        "period": "Period",
        "computed": "Computed at",
        "scoring_version": "Scoring version",
        "part_results": "I. ASSESSMENT RESULTS",
        "ministry.section": "1. Ministries, ministry-level agencies and government agencies",
        "province.section": "2. Provinces",
        "ministry.average": "a) Average score of ministries: {score} points, of which:",
        "province.average": "a) Average score of provinces: {score} points, of which:",
        "level_line": "- Level {level}: {count}/{total} ({share}%)",
        "level": "Level {level}",
        "ministry.figure": "Figure 1. Share of ministries at each level",
        "province.figure": "Figure 2. Share of provinces at each level",
        "ministry.ranking": "b) Ranking of ministries",
        "province.ranking": "b) Ranking of provinces",
        "rank": "Rank",
        "ministry.unit": "Ministry",
        "province.unit": "Province",
        "level_col": "Level",
        "vendor": "Vendor",
        "score": "Score",
        "ministry.table": "Table 1. Assessment of the ministries' TTHC systems",
        "province.table": "Table 2. Assessment of the provinces' TTHC systems",
        "no_data": "No dossier in the period",
        "part_detail": "II. DETAILED RESULTS",
        "indicators": "Indicators by unit",
        "distribution": "Distribution of the indicators",
        "trend": "Online and remote rates by month (target 50%)",
        "targets": "Targets",
        "target.remote_rate": "Remote (online from afar) dossiers ≥ {value}%",
        "target.province_online_procedures": "Procedures offered online ≥ {value}%",
        "target.province_fully_online_procedures": "Fully online of online procedures ≥ {value}%",
        "met": "Met",
        "not_met": "Not met",
        "unknown": "—",
        "met_count": "{met}/{total} units met",
        "compare": "Compared with {other}",
        "moved_up": "Up a level",
        "moved_down": "Down a level",
        "change": "Change",
        "unit": "Unit",
        "appendix": "APPENDIX. CONNECTION STATUS WITH THE EMC SYSTEM",
        "stt": "No.",
        "status": "Connection status with the EMC system",
        "reason": "Reason",
        "footnote": (
            "(*) Not fully connected to the EMC system for part of the period: read the ranking "
            "together with the connection status."
        ),
        "merged": "Figures of merged-away units are counted for the unit continuing them: ",
        "received": "Dossiers received",
        "online_rate": "Online rate",
        "remote_rate": "Remote rate",
        "via_national_portal_rate": "Via national portal",
        "online_payment_rate": "Online payment rate",
        "on_time_rate": "On-time rate",
        "avg_processing_s": "Average processing time (hours)",
        "fully_online_rate": "Fully online rate",
        "digitisation_rate": "Digitisation rate",
        "satisfaction_rate": "Satisfaction rate",
        "month": "Month",
    },
}
