// Stand-in catalog action (tests only); needs a swift runtime.
func main(args: [String:Any]) -> [String:Any] {
    let name = args["name"] as? String ?? "stranger"
    return [ "payload" : "Hello, \(name)!" ]
}
