/* Tools 35-39: local speech (voice). */
#include "tools/tools-table.h"

// clang-format off
const struct osm_tool osm_tools_voice[] = {
    {.name = "voice_status",
     .description = "Voice engine state: listening flag and whether the models are present.",
     .input_schema = NO_ARGS,
     .cls = OSM_CLASS_READ, .daemon = "voice", .method = "GET", .path = "/voice/status"},
    {.name = "voice_speak",
     .description = "Speak text aloud on this host (local text-to-speech).",
     .input_schema = ONE_STRING_ARG("text", "Text to speak."),
     .cls = OSM_CLASS_REVERSIBLE, .daemon = "voice", .method = "POST", .path = "/voice/speak"},
    {.name = "voice_transcribe",
     .description = "Transcribe an audio file (local speech-to-text).",
     .input_schema = ONE_STRING_ARG("audio_path", "Path of a WAV file."),
     .cls = OSM_CLASS_READ, .daemon = "voice", .method = "POST", .path = "/voice/transcribe"},
    {.name = "voice_record",
     .description = "Record from the microphone, and by default transcribe it.",
     .input_schema = J({"type":"object","properties":{
        "duration_secs":{"type":"integer","minimum":1,"maximum":30,
                         "description":"Seconds to record (default 5)."},
        "transcribe":{"type":"boolean","description":"Transcribe the recording (default true)."}},
        "additionalProperties":false}),
     .cls = OSM_CLASS_IRREVERSIBLE, .daemon = "voice", .method = "POST", .path = "/voice/record"},
    {.name = "voice_listen",
     .description = "Turn voice listening on or off.",
     .input_schema = J({"type":"object","properties":{
        "enabled":{"type":"boolean","description":"true to listen, false to stop."}},
        "required":["enabled"],"additionalProperties":false}),
     .cls = OSM_CLASS_REVERSIBLE, .daemon = "voice", .method = "POST", .path = "/voice/listen",
     .flags = OSM_TOOL_IDEMPOTENT},
};
// clang-format on
OSM_TOOL_TABLE_SIZE(voice);
