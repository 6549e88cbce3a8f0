/// The gateway's version.
public enum DarkSpereVersion {
    public static let current = "0.1.0"
}
