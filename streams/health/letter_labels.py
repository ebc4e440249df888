"""The wording of reminder letters (``emc remind``), in the form of seed 000/001's letter.

Keys are English identifiers, values the letter's text; ``{…}`` fields are filled by
:mod:`streams.health.letters` and :mod:`streams.health.letter_render`. The fixed lines of the
form (the national motto, "Kính gửi", "Nơi nhận", "Trân trọng./.") are seed 001's words; the body
sentences follow seed 001's phrasing ("tuân thủ quy định của pháp luật về giám sát, đánh giá…
qua Hệ thống EMC theo quy định tại Nghị định số 42/2022/NĐ-CP", "Thời hạn thực hiện: …", "nếu có
khó khăn, vướng mắc, đề nghị liên hệ…"). One language today (``vi``: the letter is an official
document in Vietnamese); another goes in as a second dict with the same keys.
"""

from __future__ import annotations

LANGS: tuple[str, ...] = ("vi",)

LABELS: dict[str, dict[str, str]] = {
    "vi": {
        "draft": "DỰ THẢO",
        "nation": "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "motto": "Độc lập - Tự do - Hạnh phúc",
        "number": "Số: {number}",
        "place_date": "{place}, ngày {day:02d} tháng {month:02d} năm {year}",
        "subject": ("V/v đôn đốc, nhắc nhở việc kết nối, cung cấp dữ liệu cho Hệ thống EMC{nth}"),
        "nth": " (lần {n})",
        "to": "Kính gửi:",
        "to.ministry": "{name}",
        "to.province": "Ủy ban nhân dân {place}",
        "province.city": "thành phố {name}",
        "province.province": "tỉnh {name}",
        "intro": (
            "Thực hiện quy định tại Nghị định số 42/2022/NĐ-CP ngày 24/6/2022 của Chính phủ về "
            "việc cung cấp thông tin và dịch vụ công trực tuyến của cơ quan nhà nước trên môi "
            "trường mạng, Hệ thống thông tin giải quyết thủ tục hành chính cấp bộ, cấp tỉnh kết "
            "nối, cung cấp dữ liệu cho Hệ thống giám sát, đo lường mức độ cung cấp và sử dụng "
            "dịch vụ Chính phủ số (Hệ thống EMC) để phục vụ giám sát, đánh giá hiệu quả, mức độ "
            "sử dụng dịch vụ công trực tuyến."
        ),
        "finding": (
            "Qua theo dõi trên Hệ thống EMC, đến {at}, hiện trạng kết nối giữa Hệ thống thông "
            "tin giải quyết thủ tục hành chính của {unit} với Hệ thống EMC là: “{status}” "
            "(từ {since})."
        ),
        "finding.fully": (
            "Qua theo dõi trên Hệ thống EMC, đến {at}, Hệ thống thông tin giải quyết thủ tục "
            "hành chính của {unit} có hiện trạng kết nối: “{status}”."
        ),
        "details": "Cụ thể như sau:",
        "reason.since": " (từ {since})",
        "request": (
            "Để phản ánh chính xác kết quả giám sát, đánh giá việc cung cấp và sử dụng dịch vụ "
            "công trực tuyến, {issuer} trân trọng đề nghị {unit} tuân thủ quy định của pháp luật "
            "về giám sát, đánh giá hiệu quả, mức độ sử dụng dịch vụ công trực tuyến qua Hệ thống "
            "EMC theo quy định tại Nghị định số 42/2022/NĐ-CP; đồng thời thực hiện một số nội "
            "dung sau đây:"
        ),
        "action.not_connected": (
            "Triển khai kết nối Hệ thống thông tin giải quyết thủ tục hành chính với Hệ thống "
            "EMC, gửi đầy đủ dữ liệu tiếp nhận, xử lý, trả kết quả và đánh giá hồ sơ."
        ),
        "action.interrupted": (
            "Kiểm tra, khôi phục ngay việc đồng bộ dữ liệu hồ sơ lên Hệ thống EMC và đồng bộ bổ "
            "sung toàn bộ dữ liệu phát sinh trong thời gian gián đoạn."
        ),
        "action.needs_reconciliation": (
            "Rà soát, đối soát số liệu đã gửi Hệ thống EMC; cập nhật danh mục thủ tục hành chính "
            "(mã TTHC) và sửa các hồ sơ có vòng đời bất thường."
        ),
        "action.not_comprehensive": (
            "Kết nối đầy đủ các hệ thống còn phân tán và đủ các bước của quy trình (tiếp nhận, "
            "xử lý, trả kết quả, đánh giá) với Hệ thống EMC."
        ),
        "action.coordinating": (
            "Tiếp tục phối hợp với {issuer} ({contact_unit}) xử lý dứt điểm các nội dung nêu trên."
        ),
        "action.fully_connected": "Duy trì kết nối toàn diện với Hệ thống EMC.",
        "action.rejects": (
            "Kiểm tra, sửa và gửi lại các bản tin bị Hệ thống EMC từ chối theo đúng định dạng "
            "dữ liệu đã công bố."
        ),
        "action.report": (
            "Báo cáo kết quả thực hiện về {issuer} ({contact_unit}). "
            "Thời hạn thực hiện: chậm nhất ngày {deadline}."
        ),
        "support": (
            "Trong quá trình triển khai, nếu có khó khăn, vướng mắc, đề nghị liên hệ với "
            "{issuer} ({contact_unit}) để được hỗ trợ, hướng dẫn."
        ),
        "contact": "Đầu mối liên hệ: {contact}.",
        "regards": "Trân trọng./.",
        "recipients": "Nơi nhận:",
        "recipient.same": "- Như trên;",
        "recipient": "- {name};",
        "recipient.archive": "- Lưu: {archive}.",
        "signature.placeholder": "(Ký, ghi rõ họ tên)",
        "date_time": "{hour:02d} giờ {minute:02d} ngày {day:02d}/{month:02d}/{year}",
        "date": "{day:02d}/{month:02d}/{year}",
        # the reasons (what is wrong) -----------------------------------------------------
        "reason.status": "{text}",
        "reason.last_event": "Sự kiện cuối cùng Hệ thống EMC nhận được lúc {at}",
        "reason.override": "{text}",
        "reason.rejects": (
            "Trong {days} ngày gần nhất, Hệ thống EMC đã từ chối {count} bản tin của đơn vị; "
            "lý do chủ yếu: {top}"
        ),
        "reason.rejects.item": "{label} ({count} bản tin)",
        "reason.anomalies": (
            "Trong {days} ngày gần nhất, {dossiers} hồ sơ có vòng đời bất thường; chủ yếu: {top}"
        ),
        "reason.anomalies.item": "{label} ({count} hồ sơ)",
        "reason.unknown_procedures": (
            "{unknown}/{receipts} hồ sơ tiếp nhận trong {days} ngày gần nhất có mã TTHC không có "
            "trong danh mục đã cập nhật"
        ),
        "reason.no_results": (
            "Có {receipts} hồ sơ tiếp nhận trong {days} ngày gần nhất nhưng không có sự kiện trả "
            "kết quả"
        ),
        "reason.low_catalogue_coverage": (
            "Chỉ {covered}/{online} dịch vụ công trực tuyến trong danh mục có hồ sơ trong {days} "
            "ngày gần nhất"
        ),
    },
}
"""Language → key → text of the letter."""

REJECT_REASONS: dict[str, str] = {
    "malformed_json": "bản tin JSON không đúng cú pháp",
    "malformed_avro": "bản tin Avro không đọc được",
    "unknown_encoding": "không nhận dạng được định dạng bản tin",
    "unknown_schema": "lược đồ Avro không đúng",
    "schema_registry_error": "không tra cứu được lược đồ",
    "missing_field": "thiếu trường bắt buộc",
    "invalid_type": "trường sai kiểu dữ liệu",
    "invalid_value": "trường có giá trị không hợp lệ",
    "unknown_enum_symbol": "giá trị không thuộc danh mục cho phép",
    "invalid_time": "thời gian không hợp lệ",
    "unknown_unit": "mã đơn vị không có trong danh mục",
    "outside_validity": "ngoài thời gian hiệu lực của đơn vị",
    "key_mismatch": "khóa bản tin khác mã đơn vị",
    "oversize": "bản tin vượt kích thước cho phép",
    "late": "gửi quá muộn so với thời gian cho phép",
}
"""Dead-letter reason code (``emc.dead_letters.reason``) → its wording in a letter; a code not
listed is printed as it is."""

ANOMALY_REASONS: dict[str, str] = {
    "result_without_receipt": "trả kết quả nhưng không có sự kiện tiếp nhận",
    "processed_without_receipt": "xử lý nhưng không có sự kiện tiếp nhận",
    "feedback_without_receipt": "đánh giá nhưng không có sự kiện tiếp nhận",
    "status_backwards": "trạng thái xử lý quay ngược",
    "result_before_receipt": "trả kết quả trước thời điểm tiếp nhận",
}
"""``emc.lifecycle_anomalies.reason`` → its wording in a letter."""
